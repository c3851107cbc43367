//! The composition root: takes the data lock, builds the App, binds, runs the connection layer
//! and the job runner, and turns each request into a response through the route table — adding
//! the request id, security and CORS headers, metrics and the access-log line on the way out.

use crate::app::App;
use crate::app::Handler;
use crate::clock::Clock;
use crate::config::Config;
use crate::db::{Applied, DataLock};
use crate::net::{self, NetConfig, Reject, ShutdownHandle};
use crate::routes;
use crate::runner::Runner;
use crate::web::compress;
use crate::web::ctx::{client_ip, request_id, RequestIdGuard};
use crate::web::headers::{allowed_origin, apply_cors, apply_security, preflight};
use crate::web::ratelimit::take_noted;
use crate::web::router::{Match, Router};
use crate::web::{ApiError, Ctx};
use rouille::{Request, Response};
use std::net::{SocketAddr, TcpListener};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub struct Running {
    pub addr: SocketAddr,
    pub app: Arc<App>,
    pub applied: Vec<Applied>,
    shutdown: ShutdownHandle,
    net_thread: Option<JoinHandle<()>>,
    runner: Option<Runner>,
    notifier: Option<crate::notify::Workers>,
    _lock: DataLock,
}

impl Running {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Graceful stop: no new connections, in-flight requests finish (bounded by
    /// `server.shutdown_grace_ms`), jobs and the notifier stop, the WAL is checkpointed, the data lock released.
    pub fn shutdown(mut self) {
        self.shutdown.shutdown();
        if let Some(t) = self.net_thread.take() {
            let _ = t.join();
        }
        if let Some(r) = self.runner.take() {
            r.stop();
        }
        if let Some(n) = self.notifier.take() {
            n.stop();
        }
        if let Err(e) = self.app.db.checkpoint() {
            log::warn!("final checkpoint failed: {e}");
        }
        log::info!("stopped");
    }

    /// A handle that stops the server from another thread (signal handler).
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }

    /// Blocks until the connection layer stops (after a shutdown request).
    pub fn wait(&mut self) {
        if let Some(t) = self.net_thread.take() {
            let _ = t.join();
        }
    }
}

fn net_config(c: &Config) -> NetConfig {
    let s = &c.server;
    NetConfig {
        max_connections: s.max_connections as usize,
        workers: s.workers as usize,
        header_timeout: Duration::from_millis(s.header_timeout_ms),
        request_timeout: Duration::from_millis(s.request_timeout_ms),
        idle_timeout: Duration::from_millis(s.idle_timeout_ms),
        write_timeout: Duration::from_millis(s.write_timeout_ms),
        max_header_bytes: s.max_header_bytes as usize,
        body_limit: s.body_limit_bytes as usize,
        shutdown_grace: Duration::from_millis(s.shutdown_grace_ms),
        max_connections_per_ip: s.max_connections_per_ip as usize,
        // Every connection through a reverse proxy comes from the proxy's address.
        trusted_proxies: c.trusted_proxies(),
        max_body_memory: usize::try_from(s.max_body_memory_bytes).unwrap_or(usize::MAX),
    }
}

/// Starts everything; returns once the socket is bound and requests are being served.
pub fn start(config: Config, clock: Arc<dyn Clock>) -> Result<Running, String> {
    start_with(config, clock, |_| {})
}

/// [`start`] with `extra` routes added to the route table (tests register test-only routes
/// through this; the binary never does).
pub fn start_with(
    config: Config,
    clock: Arc<dyn Clock>,
    extra: impl FnOnce(&mut Router<Handler>),
) -> Result<Running, String> {
    crate::files::secure_data_dir(&config.server.data_dir)?;
    let lock = DataLock::acquire(&config.database_path())?;
    let listen = config.listen_addr();
    let netcfg = net_config(&config);
    let (app, applied) = App::build(config, clock)?;
    for m in &applied {
        log::info!("applied migration {:04}_{}", m.version, m.name);
    }
    crate::accounts::sessions::reload_revocations(&app)?;
    let app = app.into_shared();
    let listener = TcpListener::bind(listen).map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    raise_backlog(&listener);
    let mut router = routes::router();
    extra(&mut router);
    let router = Arc::new(router);
    let handler: net::Handler = {
        let (app, router) = (app.clone(), router.clone());
        Arc::new(move |req: &Request| handle(&app, &router, req))
    };
    let reject: net::RejectResponder = {
        let app = app.clone();
        Arc::new(move |kind: Reject| rejected(&app, kind))
    };
    let server =
        net::Server::new(listener, netcfg, handler, reject).map_err(|e| format!("cannot start the server: {e}"))?;
    let addr = server.local_addr();
    let _ = app.net.set(server.stats());
    let shutdown = server.shutdown_handle();
    let net_thread = std::thread::Builder::new()
        .name("net".into())
        .spawn(move || server.run())
        .map_err(|e| format!("cannot start the connection thread: {e}"))?;
    let runner = Runner::start(app.clone(), crate::jobs::all(&app), app.jobs.clone());
    let notifier = crate::notify::start(app.clone());
    log::info!("listening on http://{addr}");
    Ok(Running {
        addr,
        app,
        applied,
        shutdown,
        net_thread: Some(net_thread),
        runner: Some(runner),
        notifier: Some(notifier),
        _lock: lock,
    })
}

/// std listens with a backlog of 128: a burst of new connections larger than that waits for a
/// SYN retransmit (1 s). Listening again on the bound socket raises the queue (Linux caps it at
/// net.core.somaxconn).
fn raise_backlog(listener: &TcpListener) {
    use std::os::fd::AsRawFd;
    // SAFETY: the fd is a valid, bound, listening socket owned by `listener` for this call.
    let rc = unsafe { libc::listen(listener.as_raw_fd(), 4096) };
    if rc != 0 {
        log::warn!("could not raise the listen backlog: {}", std::io::Error::last_os_error());
    }
}

/// Answers the connection layer's own refusals (timeouts, oversize, overload) in the envelope.
fn rejected(app: &App, kind: Reject) -> Response {
    let rid = request_id(None);
    let _g = RequestIdGuard::set(&rid);
    let err = match kind {
        Reject::BadRequest => ApiError::bad_request("bad_request", "The request is not valid HTTP."),
        Reject::HeaderTooLarge => ApiError::new(431, "header_too_large", "The request headers are too large."),
        Reject::PayloadTooLarge => ApiError::payload_too_large(app.config.server.body_limit_bytes),
        Reject::RequestTimeout => ApiError::new(408, "request_timeout", "The request did not arrive in time."),
        Reject::Overloaded => ApiError::unavailable("The server is at its connection limit; try again.", 1),
        Reject::TooManyConnections => {
            ApiError::new(429, "too_many_connections", "Too many open connections from your address; close some.")
                .with_header("Retry-After", "1")
        }
        Reject::LengthRequired => ApiError::new(411, "length_required", "Send a Content-Length."),
        Reject::ExpectationFailed => {
            ApiError::new(417, "expectation_failed", "Only `Expect: 100-continue` is supported.")
        }
        Reject::Internal => ApiError::new(500, "internal", "Something went wrong on our side; it has been logged."),
        Reject::NotImplemented => ApiError::new(501, "not_implemented", "That transfer coding is not supported."),
        Reject::VersionNotSupported => ApiError::new(505, "http_version_not_supported", "Use HTTP/1.1."),
    };
    let status = err.status;
    log::info!(target: "access", "- - {status} 0.0ms (refused by the connection layer)");
    app.metrics.observe("OTHER", "refused", status, Duration::ZERO);
    let mut r = err.into_response(&rid).with_unique_header("X-Request-Id", rid);
    apply_security(&mut r, app.https);
    r
}

/// One request through the route table.
pub fn handle(app: &App, router: &Router<Handler>, req: &Request) -> Response {
    let started = Instant::now();
    let rid = request_id(req.header("X-Request-Id"));
    let _g = RequestIdGuard::set(&rid);
    let _ = take_noted(); // nothing left over from this thread's previous request
    let _ = crate::db::deadline::take_interrupted();
    let ctx = Ctx {
        request_id: rid.clone(),
        client_ip: client_ip(req.remote_addr(), req.header("X-Forwarded-For"), &app.trusted_proxies),
        started,
        body_limit: app.config.server.body_limit_bytes,
    };
    let path = req.url();
    let method = req.method().to_ascii_uppercase();
    let origin = allowed_origin(req.header("Origin"), &app.config.server.cors_origins).map(str::to_string);
    let (route, resp) = if method == "OPTIONS" {
        let methods = router.methods_for(&path);
        if methods.is_empty() {
            ("unmatched", ApiError::not_found().into_response(&rid))
        } else {
            let mut allow: Vec<&str> = methods.clone();
            if allow.contains(&"GET") {
                allow.push("HEAD");
            }
            allow.push("OPTIONS");
            let r = match (&origin, req.header("Access-Control-Request-Method")) {
                (Some(o), Some(_)) => preflight(o, &allow),
                _ => Response::empty_204().with_unique_header("Allow", allow.join(", ")),
            };
            ("preflight", r)
        }
    } else {
        match router.find(&method, &path) {
            Match::Found(r, params) => {
                let handler = r.handler;
                let out = catch_unwind(AssertUnwindSafe(|| {
                    crate::idempotency::guard(app, req, &rid, |req| match handler(app, &ctx, req, &params) {
                        Ok(resp) => resp,
                        Err(e) => e.into_response(&rid),
                    })
                }));
                let resp = match out {
                    Ok(resp) => resp,
                    Err(_) => {
                        log::error!("handler for {} {} panicked", method, r.path);
                        ApiError::new(500, "internal", "Something went wrong on our side; it has been logged.")
                            .into_response(&rid)
                    }
                };
                (r.path, resp)
            }
            Match::MethodNotAllowed(allow) => ("unmatched", ApiError::method_not_allowed(&allow).into_response(&rid)),
            Match::NotFound => ("unmatched", ApiError::not_found().into_response(&rid)),
        }
    };
    let path = router.log_path(&path, req.raw_url()).to_string();
    if crate::db::deadline::take_interrupted() {
        // Once per request, tagged with its request id by the logger.
        log::warn!(
            "{method} {route}: a database statement ran past database.statement_timeout_ms ({} ms) and was interrupted",
            app.config.database.statement_timeout_ms
        );
    }
    let gzip = compress::accepts_gzip(req.header("Accept-Encoding"));
    let fin = Finish { rid, origin, method, path, route, started, ip: ctx.client_ip, noted: take_noted(), gzip };
    // A parked long-poll returns a placeholder: finish the real response when it resumes.
    if crate::net::parking() {
        if let Some(shared) = app.arc() {
            crate::net::map_parked(move |r| fin.apply(&shared, r));
            return resp;
        }
    }
    fin.apply(app, resp)
}

/// What every response gets on its way out: gzip when negotiated (`web::compress`), CORS,
/// rate-limit and security headers, the request id, the metrics sample and the access-log line.
struct Finish {
    rid: String,
    origin: Option<String>,
    method: String,
    /// The path for the log line (`Router::log_path`), not the decoded one used for routing.
    path: String,
    route: &'static str,
    started: Instant,
    ip: std::net::IpAddr,
    noted: Option<crate::web::ratelimit::Decision>,
    /// The request's `Accept-Encoding` accepts gzip.
    gzip: bool,
}

impl Finish {
    fn apply(self, app: &App, mut resp: Response) -> Response {
        let _g = RequestIdGuard::set(&self.rid);
        resp = compress::apply(resp, self.gzip, self.method == "HEAD");
        if let Some(o) = &self.origin {
            if self.route != "preflight" {
                apply_cors(&mut resp, o);
            }
        }
        if let Some(d) = self.noted {
            if !resp.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("X-RateLimit-Limit")) {
                d.apply(&mut resp);
            }
        }
        apply_security(&mut resp, app.https);
        resp.headers.retain(|(k, _)| !k.eq_ignore_ascii_case("X-Request-Id"));
        resp.headers.push(("X-Request-Id".into(), self.rid.clone().into()));
        let elapsed = self.started.elapsed();
        app.metrics.observe(&self.method, self.route, resp.status_code, elapsed);
        // `path` is `log_path`'s: raw, no query string (feed tokens), no push token; the
        // formatter escapes the rest.
        log::info!(
            target: "access",
            "{} {} {} {:.1}ms ip={}",
            self.method,
            self.path,
            resp.status_code,
            elapsed.as_secs_f64() * 1000.0,
            self.ip
        );
        resp
    }
}
