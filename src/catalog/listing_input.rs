//! The body of `POST` and `PATCH /provider/listings`, and its checks: every problem is reported at
//! once, by field (`subServices[1].price`), before anything is written.

use super::categories::{self, Category};
use super::fields;
use super::money;
use rusqlite::Connection;
use serde::Deserialize;
use serde_json::Value;

/// The body of both POST (all required) and PATCH (any subset; `categoryId` cannot change).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Fields {
    #[serde(default)]
    pub category_id: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub experience_years: Option<i64>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub sub_services: Option<Vec<PriceInput>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PriceInput {
    pub id: String,
    /// Checked by hand so every problem with it is reported as `subServices[i].price`.
    pub price: Value,
}

/// The checked fields (None: not given, in a PATCH).
#[derive(Debug, Default)]
pub struct Clean {
    pub description: Option<String>,
    pub experience_years: Option<i64>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub address: Option<String>,
}

pub type Errs = Vec<(String, String)>;

fn check<T>(
    errs: &mut Errs,
    partial: bool,
    name: &str,
    v: Option<T>,
    ok: impl Fn(T) -> Result<T, String>,
) -> Option<T> {
    match v {
        None if partial => None,
        None => {
            errs.push((name.to_string(), "is required".into()));
            None
        }
        Some(v) => ok(v).map_err(|e| errs.push((name.to_string(), e))).ok(),
    }
}

pub fn clean(f: &Fields, partial: bool, errs: &mut Errs) -> Clean {
    let t = |max: usize, multi: bool| move |v: String| fields::text(&v, max, multi);
    Clean {
        description: check(errs, partial, "description", f.description.clone(), t(2000, true)),
        experience_years: check(errs, partial, "experienceYears", f.experience_years, |v| fields::range(v, 0, 70)),
        city: check(errs, partial, "city", f.city.clone(), t(80, false)),
        state: check(errs, partial, "state", f.state.clone(), t(80, false)),
        address: check(errs, partial, "address", f.address.clone(), t(300, false)),
    }
}

/// Checks `subServices` against the category's active sub-services: each known, none twice,
/// every price a positive whole amount in the business currency, at least one.
pub fn check_prices(
    errs: &mut Errs,
    items: &[PriceInput],
    cat: &Category,
    c: &Connection,
    currency: &str,
) -> rusqlite::Result<Vec<(String, i64)>> {
    let subs = categories::sub_services(c, &cat.id, false)?;
    if items.is_empty() {
        errs.push(("subServices".into(), "must list at least one sub-service".into()));
    }
    let mut out: Vec<(String, i64)> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let price =
            money::parse(&item.price, currency, 1).map_err(|e| errs.push((format!("subServices[{i}].price"), e)));
        if !subs.iter().any(|s| s.id == item.id) {
            errs.push((format!("subServices[{i}].id"), "is not a sub-service of this category".into()));
        } else if out.iter().any(|(id, _)| *id == item.id) {
            errs.push((format!("subServices[{i}].id"), "is listed twice".into()));
        } else if let Ok(p) = price {
            out.push((item.id.clone(), p));
        }
    }
    Ok(out)
}
