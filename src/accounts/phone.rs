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
