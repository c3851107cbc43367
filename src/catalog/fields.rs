//! Field checks shared by the catalogue's inputs. Each returns the cleaned value or the problem
//! (a sentence fragment for `error.fields`).

/// Trimmed text, 1-`max` characters, no control characters (newlines allowed when `multiline`).
pub fn text(v: &str, max: usize, multiline: bool) -> Result<String, String> {
    let t = v.trim();
    if t.is_empty() {
        Err("is required".into())
    } else if t.chars().count() > max {
        Err(format!("must be at most {max} characters"))
    } else if t.chars().any(|c| c.is_control() && !(multiline && (c == '\n' || c == '\t'))) {
        Err("must not contain control characters".into())
    } else {
        Ok(t.to_string())
    }
}

/// A slug: lower-case ASCII letters and digits in hyphen-separated words, 1-60 characters.
pub fn slug(v: &str) -> Result<String, String> {
    let ok = !v.is_empty()
        && v.len() <= 60
        && v.split('-').all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
    if ok {
        Ok(v.to_string())
    } else {
        Err("must be lower-case letters and digits separated by single hyphens (at most 60 characters)".into())
    }
}

/// A slug made from a human name ("Tap installation" → "tap-installation"); None when nothing is left.
pub fn slugify(name: &str) -> Option<String> {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let s: String = out.trim_end_matches('-').chars().take(60).collect();
    let s = s.trim_end_matches('-').to_string();
    (!s.is_empty()).then_some(s)
}

/// A whole number within `lo..=hi`.
pub fn range(v: i64, lo: i64, hi: i64) -> Result<i64, String> {
    if (lo..=hi).contains(&v) {
        Ok(v)
    } else {
        Err(format!("must be a whole number from {lo} to {hi}"))
    }
}

/// The lower-cased, trimmed key a city or state is filtered by.
pub fn key(v: &str) -> String {
    v.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    #[test]
    fn slugs() {
        assert_eq!(super::slugify("Tap installation"), Some("tap-installation".into()));
        assert_eq!(super::slugify("  A to Z (tiles) "), Some("a-to-z-tiles".into()));
        assert_eq!(super::slugify("—"), None);
        assert!(super::slug("a-to-z").is_ok());
        assert!(super::slug("A-b").is_err() && super::slug("a--b").is_err() && super::slug("-a").is_err());
        assert!(super::text(" x ", 3, false).is_ok() && super::text("a\nb", 5, false).is_err());
        assert!(super::text("a\nb", 5, true).is_ok() && super::text("  ", 5, true).is_err());
    }
}
