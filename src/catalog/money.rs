//! Money in and out: `{"amount": <integer minor units>, "currency": "INR"}`, always in the
//! operator's `business.currency`.

use serde::Serialize;
use serde_json::Value;

/// The largest amount accepted anywhere in the catalogue (₹10 crore in paise): anything bigger is a
/// typo, and sums of a few of these stay far from overflow.
pub const MAX_AMOUNT: i64 = 1_000_000_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Money {
    pub amount: i64,
    pub currency: String,
}

impl Money {
    pub fn new(amount: i64, currency: &str) -> Money {
        Money { amount, currency: currency.to_string() }
    }
}

/// Parses a Money input: an object with exactly `amount` (a whole number, at least `min`, at most
/// [`MAX_AMOUNT`]) and `currency` (the business currency). The error is the problem, for the field.
pub fn parse(v: &Value, currency: &str, min: i64) -> Result<i64, String> {
    let shape = || format!("must be {{\"amount\": <whole number of minor units>, \"currency\": \"{currency}\"}}");
    let o = v.as_object().ok_or_else(shape)?;
    if o.keys().any(|k| k != "amount" && k != "currency") {
        return Err(shape());
    }
    let amount = o.get("amount").and_then(Value::as_i64).ok_or_else(shape)?;
    if amount < min {
        return Err(if min > 0 { "must be a positive amount".into() } else { "must not be negative".into() });
    }
    if amount > MAX_AMOUNT {
        return Err(format!("must be at most {MAX_AMOUNT}"));
    }
    match o.get("currency").and_then(Value::as_str) {
        Some(c) if c == currency => Ok(amount),
        _ => Err(format!("must be in {currency}")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn money_inputs() {
        assert_eq!(super::parse(&json!({"amount": 500, "currency": "INR"}), "INR", 1), Ok(500));
        assert_eq!(super::parse(&json!({"amount": 0, "currency": "INR"}), "INR", 0), Ok(0));
        for bad in [
            json!({"amount": 0, "currency": "INR"}),
            json!({"amount": -5, "currency": "INR"}),
            json!({"amount": 1.5, "currency": "INR"}),
            json!({"amount": "5", "currency": "INR"}),
            json!({"amount": 5, "currency": "USD"}),
            json!({"amount": 5}),
            json!({"amount": 5, "currency": "INR", "x": 1}),
            json!(5),
        ] {
            assert!(super::parse(&bad, "INR", 1).is_err(), "{bad}");
        }
    }
}

#[cfg(test)]
mod props {
    use proptest::prelude::*;
    use serde_json::{json, Value};

    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null)),
            "[ -~]{0,8}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                proptest::collection::btree_map("(amount|currency|[a-z]{1,5})", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

        /// Any JSON is answered; an accepted amount is exactly the integer sent, within bounds.
        #[test]
        fn any_json_is_refused_or_an_exact_amount(v in any_json(), min in 0i64..2) {
            if let Ok(a) = super::parse(&v, "INR", min) {
                prop_assert!(a >= min && a <= super::MAX_AMOUNT);
                prop_assert_eq!(v.get("amount").and_then(Value::as_i64), Some(a));
                prop_assert_eq!(v.get("currency").and_then(Value::as_str), Some("INR"));
            }
        }

        #[test]
        fn every_amount_in_range_is_accepted(a in 1i64..=super::MAX_AMOUNT) {
            prop_assert_eq!(super::parse(&json!({"amount": a, "currency": "INR"}), "INR", 1), Ok(a));
        }
    }
}
