//! Phone numbers: parsed once from common forms into E.164 (`+919876543210`).

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Phone(String);

/// Calling codes for the default countries we know how to read national numbers for.
fn calling_code(country: &str) -> Option<&'static str> {
    match country {
        "IN" => Some("91"),
        "US" | "CA" => Some("1"),
        "GB" => Some("44"),
        "AE" => Some("971"),
        "SG" => Some("65"),
        "AU" => Some("61"),
        "NP" => Some("977"),
        "LK" => Some("94"),
        "BD" => Some("880"),
        _ => None,
    }
}

impl Phone {
    /// Accepts `+91 98765 43210`, `+91-98765-43210`, `09876543210`, `9876543210`, `(987) 654 3210`.
    pub fn parse(raw: &str, default_country: &str) -> Option<Phone> {
        let raw = raw.trim();
        if raw.is_empty() || raw.len() > 32 {
            return None;
        }
        let plus = raw.starts_with('+');
        let rest = if plus { &raw[1..] } else { raw };
        if !rest.chars().all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '(' | ')' | '.')) {
            return None;
        }
        let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
        let e164 = if plus {
            digits
        } else if let Some(intl) = digits.strip_prefix("00") {
            intl.to_string()
        } else {
            let cc = calling_code(default_country)?;
            let national = digits.trim_start_matches('0');
            if default_country == "IN" {
                // Mobile numbers in India: 10 digits starting 6-9 (optionally written with 91 in front).
                let n = if national.len() == 12 && national.starts_with("91") { &national[2..] } else { national };
                if n.len() != 10 || !matches!(n.as_bytes()[0], b'6'..=b'9') {
                    return None;
                }
                format!("{cc}{n}")
            } else {
                format!("{cc}{national}")
            }
        };
        if e164.len() < 8 || e164.len() > 15 || e164.starts_with('0') {
            return None;
        }
        if let Some(n) = e164.strip_prefix("91") {
            if n.len() != 10 || !matches!(n.as_bytes()[0], b'6'..=b'9') {
                return None;
            }
        }
        Some(Phone(format!("+{e164}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_indian_forms_normalise() {
        for raw in [
            "+91 98765 43210",
            "09876543210",
            "9876543210",
            "+919876543210",
            "919876543210",
            "+91-98765-43210",
            "0091 98765 43210",
        ] {
            assert_eq!(Phone::parse(raw, "IN").map(|p| p.0), Some("+919876543210".to_string()), "{raw}");
        }
    }

    #[test]
    fn rejects_junk() {
        for raw in ["", "12345", "+91 12345 67890", "98765abc10", "+", "5876543210", "+9198765432101", "++919876543210"]
        {
            assert_eq!(Phone::parse(raw, "IN"), None, "{raw}");
        }
        assert_eq!(Phone::parse("(415) 555-0100", "US").map(|p| p.0), Some("+14155550100".into()));
        assert_eq!(Phone::parse("+44 20 7946 0958", "IN").map(|p| p.0), Some("+442079460958".into()));
    }
}

#[cfg(test)]
mod props {
    use super::Phone;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

        /// Whatever is typed, the answer is None or an E.164 number that parses to itself.
        #[test]
        fn any_input_gives_none_or_a_stable_e164(raw in "[ -~]{0,40}|[0-9 +()-.]{0,20}", country in "(IN|US|GB|XX)") {
            if let Some(p) = Phone::parse(&raw, &country) {
                let s = p.as_str();
                prop_assert!(s.starts_with('+'));
                prop_assert!(s[1..].bytes().all(|b| b.is_ascii_digit()));
                prop_assert!((9..=16).contains(&s.len()), "{}", s);
                let again = Phone::parse(s, &country);
                prop_assert_eq!(again.as_ref().map(Phone::as_str), Some(s));
            }
        }

        /// An Indian mobile number written any of the common ways is the same number.
        #[test]
        fn indian_mobiles_in_common_forms_agree(first in 6u8..=9, rest in "[0-9]{9}", form in 0usize..5) {
            let n = format!("{first}{rest}");
            let written = match form {
                0 => n.clone(),
                1 => format!("0{n}"),
                2 => format!("+91 {} {}", &n[..5], &n[5..]),
                3 => format!("+91-{}-{}", &n[..5], &n[5..]),
                _ => format!("91{n}"),
            };
            let expected = format!("+91{n}");
            let parsed = Phone::parse(&written, "IN");
            prop_assert_eq!(parsed.as_ref().map(Phone::as_str), Some(expected.as_str()));
        }
    }
}
