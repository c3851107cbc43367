//! The gauges `/metrics` shows next to the request counters: database and WAL size, uptime,
//! job health, the connection layer's counters.

use crate::app::App;
use crate::metrics::Gauge;
use std::sync::atomic::Ordering;

pub fn gauges(app: &App) -> Vec<Gauge> {
    let (db_bytes, wal_bytes) = app.db.file_sizes();
    let cp = &app.db.checkpoints;
    let ws = app.db.write_stats();
    let mut gauges = vec![
        Gauge { name: "buildxpert_db_size_bytes", help: "Size of the database file.", value: db_bytes as f64 },
        Gauge { name: "buildxpert_db_wal_size_bytes", help: "Size of the write-ahead log.", value: wal_bytes as f64 },
        Gauge {
            name: "buildxpert_db_checkpoints_total",
            help: "WAL checkpoints run while serving (on commits past database.wal_max_bytes and by the db-checkpoint job).",
            value: cp.total.load(Ordering::Relaxed) as f64,
        },
        Gauge {
            name: "buildxpert_db_checkpoints_busy_total",
            help: "Checkpoints that readers kept from resetting the WAL (they ran as PASSIVE ones).",
            value: cp.busy_total.load(Ordering::Relaxed) as f64,
        },
        Gauge {
            name: "buildxpert_db_checkpoints_failed_total",
            help: "Checkpoints that failed with an error.",
            value: cp.failed_total.load(Ordering::Relaxed) as f64,
        },
        Gauge {
            name: "buildxpert_db_checkpoint_last_busy",
            help: "1 when the last checkpoint was kept from completing by readers.",
            value: cp.last_busy.load(Ordering::Relaxed) as f64,
        },
        Gauge {
            name: "buildxpert_db_checkpoint_last_log_frames",
            help: "WAL frames the last checkpoint found.",
            value: cp.last_log_frames.load(Ordering::Relaxed) as f64,
        },
        Gauge {
            name: "buildxpert_db_checkpoint_last_checkpointed_frames",
            help: "WAL frames the last checkpoint moved into the database file.",
            value: cp.last_checkpointed_frames.load(Ordering::Relaxed) as f64,
        },
        Gauge {
            name: "buildxpert_db_commits_total",
            help: "Write transactions committed (group commit: one may hold several requests' writes).",
            value: ws.commits.load(Ordering::Relaxed) as f64,
        },
        Gauge {
            name: "buildxpert_db_committed_writes_total",
            help: "Write requests those commits held; divided by the commits, the mean batch.",
            value: ws.committed_writes.load(Ordering::Relaxed) as f64,
        },
        Gauge {
            name: "buildxpert_db_commit_batch_max",
            help: "The most write requests one commit has held since start (database.group_commit_max bounds it).",
            value: ws.max_batch.load(Ordering::Relaxed) as f64,
        },
        Gauge {
            name: "buildxpert_db_failed_batches_total",
            help: "Shared write transactions lost whole (rolled back by SQLite, or their commit failed); their requests were answered 503.",
            value: ws.failed_batches.load(Ordering::Relaxed) as f64,
        },
        Gauge {
            name: "buildxpert_uptime_seconds",
            help: "Seconds since the process started.",
            value: app.started.elapsed().as_secs_f64().floor(),
        },
        Gauge {
            name: "buildxpert_db_statements_interrupted_total",
            help: "SQL statements interrupted at database.statement_timeout_ms.",
            value: app.db.interrupted_total() as f64,
        },
        Gauge {
            name: "buildxpert_jobs_healthy",
            help: "1 when the background job runner beats.",
            value: if app.jobs.check().is_ok() { 1.0 } else { 0.0 },
        },
        Gauge {
            name: "buildxpert_longpoll_waiters",
            help: "Long-polls waiting for an event (parked, holding no thread).",
            value: app.hub.waiting() as f64,
        },
        Gauge {
            name: "buildxpert_ratelimit_keys",
            help: "Keys tracked by the rate limiter.",
            value: app.limiter.len() as f64,
        },
    ];
    if let Some(n) = app.net.get() {
        let g = |name, help, v: u64| Gauge { name, help, value: v as f64 };
        gauges.extend([
            g(
                "buildxpert_open_connections",
                "Open client connections.",
                n.open_connections.load(Ordering::Relaxed) as u64,
            ),
            g(
                "buildxpert_workers_busy",
                "Worker threads running a handler.",
                n.busy_workers.load(Ordering::Relaxed) as u64,
            ),
            g("buildxpert_workers_total", "Worker threads.", u64::from(app.config.server.workers)),
            g(
                "buildxpert_requests_queued",
                "Complete requests waiting for a worker.",
                n.queued_requests.load(Ordering::Relaxed) as u64,
            ),
            g(
                "buildxpert_connections_accepted_total",
                "Connections accepted since start.",
                n.accepted_total.load(Ordering::Relaxed),
            ),
            g(
                "buildxpert_connections_refused_total",
                "Connections refused at the connection cap.",
                n.refused_total.load(Ordering::Relaxed),
            ),
            g(
                "buildxpert_connections_timed_out_total",
                "Connections closed by a header, request or idle timeout.",
                n.timed_out_total.load(Ordering::Relaxed),
            ),
            g(
                "buildxpert_connections_refused_per_ip_total",
                "Connections refused at server.max_connections_per_ip.",
                n.refused_per_ip_total.load(Ordering::Relaxed),
            ),
            g(
                "buildxpert_connections_shed_total",
                "Idle keep-alive connections closed to make room at server.max_connections.",
                n.shed_idle_total.load(Ordering::Relaxed),
            ),
            g(
                "buildxpert_body_memory_reserved_bytes",
                "Bytes of server.max_body_memory_bytes reserved by request bodies over 64 KiB.",
                n.body_reserved_bytes.load(Ordering::Relaxed) as u64,
            ),
            g(
                "buildxpert_body_memory_buffered_bytes",
                "Bytes those request bodies hold in their buffers now.",
                n.body_buffered_bytes.load(Ordering::Relaxed) as u64,
            ),
            g(
                "buildxpert_body_memory_waiting",
                "Connections whose request body waits, unread, for room in server.max_body_memory_bytes.",
                n.body_waiting.load(Ordering::Relaxed) as u64,
            ),
        ]);
    }
    gauges
}
