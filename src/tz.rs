//! The business time zone (`business.timezone`): appointments are a local date and time there,
//! stored as UTC instants; "today" and "this month" for earnings are its calendar days.

use chrono::{LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use chrono_tz::Tz;

#[derive(Debug, Clone, Copy)]
pub struct BusinessTz(pub Tz);

impl BusinessTz {
    pub fn parse(name: &str) -> Option<BusinessTz> {
        name.parse::<Tz>().ok().map(BusinessTz)
    }

    /// `YYYY-MM-DD` + `HH:MM` (24 h, on the minute) in the zone → epoch ms. Err names the field.
    pub fn local_to_utc(&self, date: &str, time: &str) -> Result<i64, &'static str> {
        let d = parse_date(date).ok_or("date")?;
        let t = parse_time(time).ok_or("time")?;
        match self.0.from_local_datetime(&NaiveDateTime::new(d, t)) {
            LocalResult::Single(dt) => Ok(dt.timestamp_millis()),
            // A time that occurs twice (DST fall-back): the first occurrence.
            LocalResult::Ambiguous(first, _) => Ok(first.timestamp_millis()),
            // A time that does not exist (DST spring-forward gap).
            LocalResult::None => Err("time"),
        }
    }

    /// Epoch ms → (`YYYY-MM-DD`, `HH:MM`) in the zone.
    pub fn utc_to_local(&self, ms: i64) -> (String, String) {
        let dt = self.0.timestamp_millis_opt(ms).single().unwrap_or_else(|| self.0.timestamp_millis_opt(0).unwrap());
        (dt.format("%Y-%m-%d").to_string(), dt.format("%H:%M").to_string())
    }

    /// The local calendar date of an instant.
    pub fn local_date(&self, ms: i64) -> NaiveDate {
        self.0.timestamp_millis_opt(ms).single().map(|d| d.date_naive()).unwrap_or_default()
    }

    /// The instant a local date begins (its first existing minute).
    pub fn day_start(&self, date: NaiveDate) -> i64 {
        let mut t = NaiveDateTime::new(date, NaiveTime::MIN);
        for _ in 0..4 {
            match self.0.from_local_datetime(&t) {
                LocalResult::Single(dt) | LocalResult::Ambiguous(dt, _) => return dt.timestamp_millis(),
                LocalResult::None => t += chrono::Duration::minutes(30),
            }
        }
        chrono::Utc.from_utc_datetime(&NaiveDateTime::new(date, NaiveTime::MIN)).timestamp_millis()
    }
}

/// Strict `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    (s.len() == 10 && s.as_bytes()[4] == b'-' && s.as_bytes()[7] == b'-')
        .then(|| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())?
}

/// Strict `HH:MM`, 24 h, on the minute.
pub fn parse_time(s: &str) -> Option<NaiveTime> {
    (s.len() == 5 && s.as_bytes()[2] == b':').then(|| NaiveTime::parse_from_str(s, "%H:%M").ok())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kolkata_and_dst_zones() {
        let k = BusinessTz::parse("Asia/Kolkata").unwrap();
        let ms = k.local_to_utc("2026-12-01", "10:30").unwrap();
        assert_eq!(crate::clock::rfc3339(ms), "2026-12-01T05:00:00Z");
        assert_eq!(k.utc_to_local(ms), ("2026-12-01".to_string(), "10:30".to_string()));
        assert_eq!(
            k.local_date(crate::clock::parse_rfc3339("2026-11-30T19:00:00Z").unwrap()).to_string(),
            "2026-12-01"
        );
        assert_eq!(crate::clock::rfc3339(k.day_start(parse_date("2026-12-01").unwrap())), "2026-11-30T18:30:00Z");
        for (d, t, field) in [
            ("2026-13-01", "10:00", "date"),
            ("2026-12-01", "24:00", "time"),
            ("2026-12-01", "10:30:00", "time"),
            ("1/12/2026", "10:00", "date"),
        ] {
            assert_eq!(k.local_to_utc(d, t), Err(field));
        }
        let ny = BusinessTz::parse("America/New_York").unwrap();
        assert_eq!(ny.local_to_utc("2026-03-08", "02:30"), Err("time"), "the spring-forward gap does not exist");
        assert!(ny.local_to_utc("2026-11-01", "01:30").is_ok(), "the fall-back hour is ambiguous: first one");
        assert!(BusinessTz::parse("Mars/Olympus").is_none());
    }
}
