//! Admin edits to the catalogue: create a category with its sub-services, and change a category
//! (fees, periods, pass, position, active) and its sub-services (add, rename, (de)activate).
//! Every change is validated as a whole before anything is written, and audited.

use super::categories::{self, Category};
use super::fields;
use super::money;
use crate::app::App;
use crate::db::Cached;
use crate::db::Tx;
use crate::web::auth::Principal;
use crate::web::{ApiError, Ctx};
use rusqlite::params;
use serde::Deserialize;
use serde_json::{json, Value};

/// Longest listing period an admin may set (10 years) and longest pass (1 year).
const MAX_LISTING_DAYS: i64 = 3650;
const MAX_PASS_DAYS: i64 = 365;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewSubService {
    /// Derived from the name when absent.
    #[serde(default)]
    pub slug: Option<String>,
    pub name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateBody {
    pub slug: String,
    pub name: String,
    pub listing_fee: Value,
    pub listing_days: i64,
    #[serde(default)]
    pub requires_pass: bool,
    #[serde(default)]
    pub pass_fee: Option<Value>,
    #[serde(default)]
    pub pass_days: Option<i64>,
    /// After the last category when absent.
    #[serde(default)]
    pub position: Option<i64>,
    pub sub_services: Vec<NewSubService>,
}

/// One entry of a PATCH's `subServices`: with `id`, a change to that sub-service (`name`,
/// `active`); without, a new sub-service (`name`, optional `slug`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SubServiceChange {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub slug: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub active: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PatchBody {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub listing_fee: Option<Value>,
    #[serde(default)]
    pub listing_days: Option<i64>,
    #[serde(default)]
    pub requires_pass: Option<bool>,
    #[serde(default)]
    pub pass_fee: Option<Value>,
    #[serde(default)]
    pub pass_days: Option<i64>,
    #[serde(default)]
    pub position: Option<i64>,
    #[serde(default)]
    pub active: Option<bool>,
    #[serde(default)]
    pub sub_services: Option<Vec<SubServiceChange>>,
}

type Errs = Vec<(String, String)>;

fn keep<T>(errs: &mut Errs, field: &str, r: Result<T, String>) -> Option<T> {
    r.map_err(|e| errs.push((field.to_string(), e))).ok()
}

/// The pass settings: required together when the category requires a pass, dropped otherwise.
fn pass_rules(errs: &mut Errs, requires: bool, fee: Option<i64>, days: Option<i64>) -> (Option<i64>, Option<i64>) {
    if !requires {
        return (None, None);
    }
    if fee.is_none() {
        errs.push(("passFee".into(), "is required when requiresPass is true".into()));
    }
    if days.is_none() {
        errs.push(("passDays".into(), "is required when requiresPass is true".into()));
    }
    (fee, days)
}

/// The slug for a new sub-service (given, or made from its name).
fn new_sub_slug(errs: &mut Errs, i: usize, slug: Option<&str>, name: Option<&str>) -> Option<String> {
    match (slug, name) {
        (Some(s), _) => keep(errs, &format!("subServices[{i}].slug"), fields::slug(s)),
        (None, Some(n)) => {
            let s = fields::slugify(n);
            if s.is_none() {
                errs.push((
                    format!("subServices[{i}].slug"),
                    "is required when the name has no letters or digits".into(),
                ));
            }
            s
        }
        (None, None) => None,
    }
}

/// `POST /admin/categories` → the new category (admin shape).
pub fn create(app: &App, ctx: &Ctx, admin: &Principal, b: CreateBody) -> Result<Value, ApiError> {
    let currency = app.config.business.currency.as_str();
    let mut errs: Errs = Vec::new();
    let slug = keep(&mut errs, "slug", fields::slug(b.slug.trim()));
    let name = keep(&mut errs, "name", fields::text(&b.name, 80, false));
    let fee = keep(&mut errs, "listingFee", money::parse(&b.listing_fee, currency, 0));
    let days = keep(&mut errs, "listingDays", fields::range(b.listing_days, 1, MAX_LISTING_DAYS));
    let pass_fee = b.pass_fee.as_ref().and_then(|f| keep(&mut errs, "passFee", money::parse(f, currency, 1)));
    let pass_days = b.pass_days.and_then(|d| keep(&mut errs, "passDays", fields::range(d, 1, MAX_PASS_DAYS)));
    let bad_pass = errs.iter().any(|(f, _)| f == "passFee" || f == "passDays");
    let (pass_fee, pass_days) =
        if bad_pass { (None, None) } else { pass_rules(&mut errs, b.requires_pass, pass_fee, pass_days) };
    let position = b.position.and_then(|p| keep(&mut errs, "position", fields::range(p, 0, 10_000)));
    if b.sub_services.is_empty() {
        errs.push(("subServices".into(), "must list at least one sub-service".into()));
    }
    let mut subs: Vec<(String, String)> = Vec::new();
    for (i, s) in b.sub_services.iter().enumerate() {
        let n = keep(&mut errs, &format!("subServices[{i}].name"), fields::text(&s.name, 80, false));
        let sl = new_sub_slug(&mut errs, i, s.slug.as_deref().map(str::trim), n.as_deref());
        if let (Some(n), Some(sl)) = (n, sl) {
            if subs.iter().any(|(x, _)| *x == sl) {
                errs.push((format!("subServices[{i}].slug"), "is used twice".into()));
            } else {
                subs.push((sl, n));
            }
        }
    }
    if !errs.is_empty() {
        return Err(ApiError::validation(errs));
    }
    let (slug, name, fee, days) =
        (slug.unwrap_or_default(), name.unwrap_or_default(), fee.unwrap_or(0), days.unwrap_or(1));
    let now = app.now_ms();
    app.db.write(|tx| {
        if categories::find_by_slug(tx, &slug)?.is_some() {
            return Err(ApiError::conflict("already_exists", "A category with this slug already exists."));
        }
        let position = match position {
            Some(p) => p,
            None => tx.query_row_cached("SELECT COALESCE(MAX(position), 0) + 1 FROM categories", [], |r| r.get(0))?,
        };
        let id = format!("cat_{slug}");
        tx.execute_cached(
            "INSERT INTO categories (id, slug, name, listing_fee, listing_days, requires_pass, pass_fee, pass_days,
                 position, active, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 1, ?10, ?10)",
            params![id, slug, name, fee, days, b.requires_pass, pass_fee, pass_days, position, now],
        )?;
        for (i, (sl, n)) in subs.iter().enumerate() {
            insert_sub(tx, &id, &slug, sl, n, i as i64 + 1)?;
        }
        let details = json!({"slug": slug, "name": name, "listingFee": fee, "listingDays": days,
            "requiresPass": b.requires_pass, "passFee": pass_fee, "passDays": pass_days,
            "subServices": subs.iter().map(|s| &s.0).collect::<Vec<_>>()});
        crate::audit::log(
            tx,
            app,
            ctx,
            Some((&admin.user_id, admin.role)),
            "admin.category_created",
            Some(&id),
            details,
        )?;
        categories::admin_one(tx, &id, currency)?.ok_or_else(|| ApiError::internal("created category not found"))
    })
}

fn insert_sub(tx: &Tx, cat_id: &str, cat_slug: &str, slug: &str, name: &str, position: i64) -> rusqlite::Result<()> {
    tx.execute_cached(
        "INSERT INTO sub_services (id, category_id, slug, name, position, active) VALUES (?1, ?2, ?3, ?4, ?5, 1)",
        params![format!("sub_{cat_slug}_{slug}"), cat_id, slug, name, position],
    )?;
    Ok(())
}

/// `PATCH /admin/categories/{id}` → the category (admin shape).
pub fn update(app: &App, ctx: &Ctx, admin: &Principal, id: &str, b: PatchBody) -> Result<Value, ApiError> {
    let currency = app.config.business.currency.as_str();
    let now = app.now_ms();
    app.db.write(|tx| {
        let cat: Category = categories::find(tx, id)?.ok_or_else(ApiError::not_found)?;
        let existing = categories::sub_services(tx, id, true)?;
        let mut errs: Errs = Vec::new();
        let name = b.name.as_deref().and_then(|n| keep(&mut errs, "name", fields::text(n, 80, false)));
        let fee = b.listing_fee.as_ref().and_then(|f| keep(&mut errs, "listingFee", money::parse(f, currency, 0)));
        let days = b.listing_days.and_then(|d| keep(&mut errs, "listingDays", fields::range(d, 1, MAX_LISTING_DAYS)));
        let position = b.position.and_then(|p| keep(&mut errs, "position", fields::range(p, 0, 10_000)));
        let new_pass_fee = b.pass_fee.as_ref().and_then(|f| keep(&mut errs, "passFee", money::parse(f, currency, 1)));
        let new_pass_days = b.pass_days.and_then(|d| keep(&mut errs, "passDays", fields::range(d, 1, MAX_PASS_DAYS)));
        let requires = b.requires_pass.unwrap_or(cat.requires_pass);
        let (pass_fee, pass_days) =
            pass_rules(&mut errs, requires, new_pass_fee.or(cat.pass_fee), new_pass_days.or(cat.pass_days));
        // Sub-service changes: renames and (de)activations of this category's own, and additions.
        let mut renames: Vec<(&str, Option<String>, Option<bool>)> = Vec::new();
        let mut additions: Vec<(String, String)> = Vec::new();
        for (i, s) in b.sub_services.iter().flatten().enumerate() {
            let n = s
                .name
                .as_deref()
                .and_then(|n| keep(&mut errs, &format!("subServices[{i}].name"), fields::text(n, 80, false)));
            match &s.id {
                Some(sid) => {
                    if !existing.iter().any(|e| e.id == *sid) {
                        errs.push((format!("subServices[{i}].id"), "is not a sub-service of this category".into()));
                    } else if s.slug.is_some() {
                        errs.push((format!("subServices[{i}].slug"), "cannot be changed".into()));
                    } else {
                        renames.push((sid.as_str(), n, s.active));
                    }
                }
                None => {
                    if s.name.is_none() {
                        errs.push((format!("subServices[{i}].name"), "is required for a new sub-service".into()));
                    }
                    if s.active == Some(false) {
                        errs.push((format!("subServices[{i}].active"), "a new sub-service starts active".into()));
                    }
                    let sl = new_sub_slug(&mut errs, i, s.slug.as_deref().map(str::trim), n.as_deref());
                    if let (Some(n), Some(sl)) = (n, sl) {
                        if existing.iter().any(|e| e.slug == sl) || additions.iter().any(|(x, _)| *x == sl) {
                            errs.push((format!("subServices[{i}].slug"), "is already used in this category".into()));
                        } else {
                            additions.push((sl, n));
                        }
                    }
                }
            }
        }
        if !errs.is_empty() {
            return Err(ApiError::validation(errs));
        }
        tx.execute_cached(
            "UPDATE categories SET name = COALESCE(?2, name), listing_fee = COALESCE(?3, listing_fee),
                 listing_days = COALESCE(?4, listing_days), requires_pass = ?5, pass_fee = ?6, pass_days = ?7,
                 position = COALESCE(?8, position), active = COALESCE(?9, active), updated_at = ?10
             WHERE id = ?1",
            params![id, name, fee, days, requires, pass_fee, pass_days, position, b.active, now],
        )?;
        for (sid, n, active) in &renames {
            tx.execute_cached(
                "UPDATE sub_services SET name = COALESCE(?2, name), active = COALESCE(?3, active) WHERE id = ?1",
                params![sid, n, active],
            )?;
        }
        let next: i64 = existing.iter().map(|e| e.position).max().unwrap_or(0) + 1;
        for (i, (sl, n)) in additions.iter().enumerate() {
            insert_sub(tx, id, &cat.slug, sl, n, next + i as i64)?;
        }
        let left: i64 = tx.query_row_cached(
            "SELECT COUNT(*) FROM sub_services WHERE category_id = ?1 AND active = 1",
            [id],
            |r| r.get(0),
        )?;
        if left == 0 {
            // Rolled back with the rest: a category needs something to list.
            return Err(ApiError::field("subServices", "must leave at least one active sub-service"));
        }
        let details = json!({"name": name, "listingFee": fee, "listingDays": days, "requiresPass": b.requires_pass,
            "passFee": new_pass_fee, "passDays": new_pass_days, "position": position, "active": b.active,
            "subServicesChanged": renames.iter().map(|r| r.0).collect::<Vec<_>>(),
            "subServicesAdded": additions.iter().map(|a| &a.0).collect::<Vec<_>>()});
        crate::audit::log(
            tx,
            app,
            ctx,
            Some((&admin.user_id, admin.role)),
            "admin.category_updated",
            Some(id),
            details,
        )?;
        categories::admin_one(tx, id, currency)?.ok_or_else(ApiError::not_found)
    })
}
