//! `GET /admin/backup`: a consistent snapshot of the database, streamed as a download while the
//! server keeps serving. The snapshot is `db::backup_to` (`VACUUM INTO` on its own read-only
//! connection: one read transaction, so writers carry on and the copy is of one instant), written
//! privately next to the database, integrity-checked, opened, then unlinked: the open file is
//! streamed and disappears when the response is done, so no copy is left behind even if the
//! client goes away.

use crate::app::App;
use crate::web::auth::Principal;
use crate::web::{ApiError, Ctx};
use serde_json::json;

/// A snapshot ready to stream.
pub struct Snapshot {
    pub file: std::fs::File,
    pub filename: String,
    pub bytes: u64,
}

pub fn snapshot(app: &App, ctx: &Ctx, admin: &Principal) -> Result<Snapshot, ApiError> {
    let db_path = app.db.path().to_path_buf();
    let dir = db_path.parent().map(std::path::Path::to_path_buf).unwrap_or_else(|| ".".into());
    let stamp = chrono::DateTime::from_timestamp_millis(app.now_ms())
        .map(|t| t.format("%Y%m%dT%H%M%SZ").to_string())
        .unwrap_or_else(|| "snapshot".into());
    let tmp = dir.join(format!(".admin-backup-{}.db", crate::web::ctx::new_id("bak")));
    let bytes = crate::db::backup_to(&db_path, &tmp).map_err(|e| {
        log::error!("admin backup failed: {e}");
        ApiError::unavailable("The backup could not be made; try again.", 30)
    })?;
    let file = std::fs::File::open(&tmp).map_err(|e| {
        log::error!("admin backup cannot be reopened: {e}");
        let _ = std::fs::remove_file(&tmp);
        ApiError::unavailable("The backup could not be made; try again.", 30)
    });
    // Unlinked at once: the open handle keeps the data until the stream ends.
    let _ = std::fs::remove_file(&tmp);
    let file = file?;
    let filename = format!("buildxpert-{stamp}.db");
    app.db.write(|tx| {
        crate::audit::log(
            tx,
            app,
            ctx,
            Some((&admin.user_id, admin.role)),
            "admin.backup_downloaded",
            None,
            json!({"bytes": bytes, "filename": filename}),
        )?;
        Ok::<_, ApiError>(())
    })?;
    Ok(Snapshot { file, filename, bytes })
}
