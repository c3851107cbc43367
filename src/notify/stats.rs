//! Notify's part of the operator's daily series (`GET /admin/stats`): per local day, external
//! deliveries created that day that were sent, and that failed for good or are failing (`failed`,
//! `dead`). One statement for the range (`db::series::per_day`), served by `deliveries_created`.

use crate::db::series::per_day;
use crate::db::Cached;
use rusqlite::Connection;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryDay {
    pub sent: i64,
    pub failed: i64,
}

/// One entry per `[start, end)` day of `days`, in order.
pub fn daily(c: &Connection, days: &[(i64, i64)]) -> rusqlite::Result<Vec<DeliveryDay>> {
    let count = |statuses: &str| {
        per_day(
            c,
            "SELECT CAST(d.key AS INTEGER), COUNT(x.id) FROM json_each(?1) d
             JOIN deliveries x ON x.created_at >= json_extract(d.value, '$[0]') AND x.created_at < json_extract(d.value, '$[1]')
              AND x.status IN (SELECT value FROM json_each(?2))
             GROUP BY d.key",
            days,
            &[statuses],
        )
    };
    let sent = count(r#"["sent"]"#)?;
    let failed = count(r#"["failed","dead"]"#)?;
    Ok((0..days.len()).map(|i| DeliveryDay { sent: sent[i], failed: failed[i] }).collect())
}

/// Dead letters now (the alerts' `dead_letters` threshold).
pub fn dead_count(c: &Connection) -> rusqlite::Result<i64> {
    c.query_row_cached("SELECT COUNT(*) FROM deliveries WHERE status = 'dead'", [], |r| r.get(0))
}
