//! `GET /admin/export/payments.csv`: payments as CSV (users and bookings export from their own
//! features). Audited like every export (`admin.payments_exported`).

use crate::app::App;
use crate::web::auth::Principal;
use crate::web::csv::CsvWriter;
use crate::web::{ApiError, Ctx};
use serde_json::json;

/// The payments CSV's header (the payments feature's `Payment` shape, flattened).
pub const PAYMENTS_CSV_HEADER: &[&str] = &[
    "id",
    "purpose",
    "status",
    "amount",
    "currency",
    "gateway",
    "gatewayRef",
    "payerId",
    "createdAt",
    "completedAt",
    "refunded",
];

pub fn payments_csv(app: &App, ctx: &Ctx, admin: &Principal) -> Result<CsvWriter, ApiError> {
    let csv = CsvWriter::new(PAYMENTS_CSV_HEADER);
    // MERGE: fill the rows from the payments feature (`crate::payments`, newest first, at most
    // 100 000, the `from`/`to` and `status` filters of `GET /admin/payments`); payments is built
    // in parallel, so this branch answers the header alone.
    let rows = 0u64;
    app.db.write(|tx| {
        crate::audit::log(
            tx,
            app,
            ctx,
            Some((&admin.user_id, admin.role)),
            "admin.payments_exported",
            None,
            json!({"rows": rows}),
        )?;
        Ok::<_, ApiError>(())
    })?;
    Ok(csv)
}
