//! buildxpert-bench: std-only load client for the buildxpert HTTP server.
//!
//! Argument parsing and orchestration live here; see client.rs (HTTP),
//! stats.rs (percentiles), procfs.rs (RSS/thread sampling) and server.rs
//! (spawning the server under test).

mod client;
mod procfs;
mod server;
mod sign;
mod stats;

use std::collections::BTreeMap;
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use client::{Request, WorkerResult};
use server::Server;

const USAGE: &str = "\
buildxpert-bench: HTTP/1.1 keep-alive load client for buildxpert (127.0.0.1 only)

usage: cargo run --release --manifest-path bench/Cargo.toml -- [options]

target (the last of --bin/--url wins):
  --bin PATH            spawn `PATH serve --listen 127.0.0.1:0 --data-dir <fresh tmp dir>`
                        (default: <bench dir>/../target/release/buildxpert)
  --env KEY=VALUE       extra environment for the spawned server (repeatable)
  --keep-data           keep the server's temp data dir instead of deleting it
  --url http://127.0.0.1:PORT
                        use an already running server instead of spawning one
  --pid N               pid of that server, for rss/threads sampling (with --url)

scenario (every route x concurrency pair is one run):
  --route PATH          request path, repeatable (default: /healthz)
  --method M            GET|POST|PUT|PATCH|DELETE (default: GET)
  --header 'Name: v'    extra request header, repeatable
  --body STRING         request body (Content-Type defaults to application/json)
  --body-file FILE      request body read from FILE
  --concurrency N[,N]   connections = threads per run (default: 16,64)
  --duration SECS       measured time per run (default: 10)
  --warmup SECS         unmeasured time before each run (default: 1)
  --timeout SECS        connect/read/write timeout per request (default: 10)
  --rate R              at most R requests/s for the run, spread over its connections
                        (default: closed loop, each connection as fast as it can)
  --seq-start N         first value of the `{seq}` counter in paths and bodies (default: 0)
  --sandbox-secret S    sign every request's body (after `{seq}`) as a sandbox payment
                        notification: header `X-Sandbox-Signature: t=<now>,v1=<HMAC>`

log in first (once, before the runs):
  --setup-post PATH     POST this path (Content-Type: application/json) ...
  --setup-body JSON     ... with this body (default: empty)
  --token-field NAME    JSON string field holding the token (default: accessToken);
                        every request then carries `Authorization: Bearer <token>`
";

const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

enum Target {
    Spawn(PathBuf),
    Url(SocketAddr),
}

struct Setup {
    path: String,
    body: String,
    token_field: String,
}

struct Options {
    target: Target,
    pid: Option<u32>,
    envs: Vec<(String, String)>,
    keep_data: bool,
    routes: Vec<String>,
    method: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    concurrency: Vec<usize>,
    duration: Duration,
    warmup: Duration,
    timeout: Duration,
    setup: Option<Setup>,
    sandbox_secret: Option<String>,
    rate: Option<f64>,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let result = parse_args(&args).and_then(run);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("buildxpert-bench: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let default_bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/buildxpert");
    let mut o = Options {
        target: Target::Spawn(default_bin),
        pid: None,
        envs: Vec::new(),
        keep_data: false,
        routes: Vec::new(),
        method: "GET".into(),
        headers: Vec::new(),
        body: Vec::new(),
        concurrency: vec![16, 64],
        duration: Duration::from_secs(10),
        warmup: Duration::from_secs(1),
        timeout: Duration::from_secs(10),
        setup: None,
        sandbox_secret: None,
        rate: None,
    };
    let (mut setup_path, mut setup_body, mut token_field) = (None, None, None);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        // Accept both `--name value` and `--name=value`.
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        if name == "--keep-data" {
            o.keep_data = true;
            continue;
        }
        let mut value = || inline.clone().or_else(|| it.next().cloned()).ok_or_else(|| format!("{name} needs a value"));
        match name {
            "--bin" => o.target = Target::Spawn(PathBuf::from(value()?)),
            "--url" => o.target = Target::Url(client::parse_local_url(&value()?)?),
            "--pid" => o.pid = Some(value()?.parse().map_err(|_| "--pid wants a number")?),
            "--env" => o.envs.push(split_pair(&value()?, '=', "--env KEY=VALUE")?),
            "--route" => o.routes.push(check_route(value()?)?),
            "--method" => o.method = check_method(value()?)?,
            "--header" => o.headers.push(split_pair(&value()?, ':', "--header 'Name: value'")?),
            "--body" => o.body = value()?.into_bytes(),
            "--body-file" => {
                let f = value()?;
                o.body = fs::read(&f).map_err(|e| format!("cannot read --body-file {f}: {e}"))?;
            }
            "--concurrency" => o.concurrency = parse_concurrency(&value()?)?,
            "--duration" => o.duration = parse_secs(name, &value()?, false)?,
            "--warmup" => o.warmup = parse_secs(name, &value()?, true)?,
            "--timeout" => o.timeout = parse_secs(name, &value()?, false)?,
            "--setup-post" => setup_path = Some(check_route(value()?)?),
            "--setup-body" => setup_body = Some(value()?),
            "--token-field" => token_field = Some(value()?),
            "--sandbox-secret" => o.sandbox_secret = Some(value()?),
            "--rate" => {
                o.rate = Some(value()?.parse().ok().filter(|r: &f64| *r > 0.0).ok_or("--rate wants a positive number")?)
            }
            "--seq-start" => client::set_seq_start(value()?.parse().map_err(|_| "--seq-start wants a number")?),
            _ => return Err(format!("unknown argument {arg:?} (see --help)")),
        }
    }
    if o.routes.is_empty() {
        o.routes.push("/healthz".into());
    }
    if o.pid.is_some() && matches!(o.target, Target::Spawn(_)) {
        return Err("--pid only makes sense with --url".into());
    }
    if !o.body.is_empty() && !o.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("content-type")) {
        o.headers.push(("Content-Type".into(), "application/json".into()));
    }
    match setup_path {
        Some(path) => {
            o.setup = Some(Setup {
                path,
                body: setup_body.unwrap_or_default(),
                token_field: token_field.unwrap_or_else(|| "accessToken".into()),
            })
        }
        None if setup_body.is_some() || token_field.is_some() => {
            return Err("--setup-body/--token-field need --setup-post".into())
        }
        None => {}
    }
    Ok(o)
}

/// Splits `KEY=VALUE` / `Name: value`, rejecting empty names and CR/LF.
fn split_pair(s: &str, sep: char, what: &str) -> Result<(String, String), String> {
    match s.split_once(sep) {
        Some((k, v)) if !k.trim().is_empty() && !s.contains(['\r', '\n']) => {
            let v = if sep == ':' { v.trim() } else { v };
            Ok((k.trim().to_string(), v.to_string()))
        }
        _ => Err(format!("expected {what}, got {s:?}")),
    }
}

fn check_route(path: String) -> Result<String, String> {
    if path.starts_with('/') && !path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Ok(path)
    } else {
        Err(format!("route must start with / and contain no spaces: {path:?}"))
    }
}

fn check_method(m: String) -> Result<String, String> {
    match m.as_str() {
        "GET" | "POST" | "PUT" | "PATCH" | "DELETE" => Ok(m),
        _ => Err(format!("unsupported --method {m:?}")),
    }
}

fn parse_concurrency(s: &str) -> Result<Vec<usize>, String> {
    s.split(',')
        .map(|n| match n.trim().parse::<usize>() {
            Ok(c) if (1..=1024).contains(&c) => Ok(c),
            _ => Err(format!("--concurrency wants numbers in 1..=1024, got {n:?}")),
        })
        .collect()
}

fn parse_secs(name: &str, s: &str, zero_ok: bool) -> Result<Duration, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (v > 0.0 || (zero_ok && v == 0.0)) && v <= 86_400.0 => Ok(Duration::from_secs_f64(v)),
        _ => Err(format!("{name} wants seconds, got {s:?}")),
    }
}

fn run(o: Options) -> Result<(), String> {
    let mut server = None;
    let (addr, pid) = match &o.target {
        Target::Spawn(bin) => {
            let bin = fs::canonicalize(bin).map_err(|e| {
                format!(
                    "server binary {} not usable ({e}); run `cargo build --release` in the repo root or pass --bin/--url",
                    bin.display()
                )
            })?;
            let size = fs::metadata(&bin).map(|m| m.len()).unwrap_or_default();
            println!("# bin={} size={size} bytes {}", bin.display(), machine());
            let s = Server::spawn(&bin, &o.envs, o.keep_data)?;
            let (addr, pid) = (s.addr, s.pid);
            server = Some(s);
            (addr, Some(pid))
        }
        Target::Url(addr) => {
            let exe = o.pid.map(|p| format!("/proc/{p}/exe"));
            let bin = exe.as_ref().and_then(|e| fs::read_link(e).ok());
            let size = exe.and_then(|e| fs::metadata(e).ok()).map(|m| m.len());
            match (bin, size) {
                (Some(b), Some(s)) => println!("# bin={} size={s} bytes url=http://{addr} {}", b.display(), machine()),
                _ => println!("# bin=unknown url=http://{addr} {}", machine()),
            }
            (*addr, o.pid)
        }
    };
    print_config(&o);
    if let Some(s) = server.as_mut() {
        let healthy_after = probe_healthz(s, addr, o.timeout)?;
        println!("# cold_start listening={} first_healthz={}", ms(s.listening_after), ms(healthy_after));
    }

    let mut headers = o.headers.clone();
    if let Some(setup) = &o.setup {
        let token = login(addr, setup, o.timeout)?;
        headers.push(("Authorization".into(), format!("Bearer {token}")));
    }

    let route_width = o.routes.iter().map(String::len).max().unwrap_or(0);
    for route in &o.routes {
        let req = Request::new(&o.method, route, addr, &headers, &o.body);
        let req = Arc::new(match &o.sandbox_secret {
            Some(secret) => req.signed(secret),
            None => req,
        });
        for &c in &o.concurrency {
            let report = run_one(addr, &req, c, &o, pid)?;
            println!("{}", report.row(route, route_width, &o.method, o.duration));
            if let Some(detail) = report.error_detail() {
                println!("{detail}");
            }
            if let Some(s) = server.as_mut() {
                s.check_alive()?;
            }
        }
    }

    if let Some(mut s) = server {
        let stopped = s.stop();
        println!("# server stopped in {}: {}", ms(stopped.after), stopped.status);
        if o.keep_data {
            println!("# data dir kept: {}", s.data_dir().display());
        }
    }
    Ok(())
}

fn print_config(o: &Options) {
    let conc: Vec<String> = o.concurrency.iter().map(usize::to_string).collect();
    let env_keys: Vec<&str> = o.envs.iter().map(|(k, _)| k.as_str()).collect();
    println!(
        "# config method={} duration={}s warmup={}s timeout={}s concurrency={} body={}B env=[{}]{}",
        o.method,
        o.duration.as_secs_f64(),
        o.warmup.as_secs_f64(),
        o.timeout.as_secs_f64(),
        conc.join(","),
        o.body.len(),
        env_keys.join(","),
        o.setup.as_ref().map(|s| format!(" setup=POST {}", s.path)).unwrap_or_default(),
    );
}

/// Machine description: nproc, CPU model, memory.
fn machine() -> String {
    let nproc = thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    format!("nproc={nproc} cpu=\"{cpu}\" mem={:.1}GiB", mem_kib as f64 / (1024.0 * 1024.0))
}

fn ms(d: Duration) -> String {
    format!("{:.1}ms", d.as_secs_f64() * 1000.0)
}

/// Polls GET /healthz until it answers 2xx; returns the time since spawn.
fn probe_healthz(s: &mut Server, addr: SocketAddr, timeout: Duration) -> Result<Duration, String> {
    let req = Request::new("GET", "/healthz", addr, &[], b"");
    let deadline = Instant::now() + PROBE_TIMEOUT;
    let mut last = String::from("no attempt");
    while Instant::now() < deadline {
        s.check_alive()?;
        match client::request_once(addr, &req, timeout) {
            Ok(r) if (200..300).contains(&r.status) => return Ok(s.spawned_at.elapsed()),
            Ok(r) => last = format!("status {}", r.status),
            Err(e) => last = e.to_string(),
        }
        thread::sleep(Duration::from_millis(5));
    }
    Err(format!("GET /healthz not 2xx within {PROBE_TIMEOUT:?} (last: {last})"))
}

/// POSTs the setup request once and extracts the bearer token.
fn login(addr: SocketAddr, setup: &Setup, timeout: Duration) -> Result<String, String> {
    let headers = [("Content-Type".to_string(), "application/json".to_string())];
    let req = Request::new("POST", &setup.path, addr, &headers, setup.body.as_bytes());
    let resp = client::request_once(addr, &req, timeout).map_err(|e| format!("setup POST {}: {e}", setup.path))?;
    let body = String::from_utf8_lossy(&resp.body);
    let snippet: String = body.chars().take(200).collect();
    if !(200..300).contains(&resp.status) {
        return Err(format!("setup POST {} -> {}: {snippet}", setup.path, resp.status));
    }
    let token = client::find_string_field(&body, &setup.token_field)
        .ok_or_else(|| format!("setup response has no string field {:?}: {snippet}", setup.token_field))?;
    println!("# setup POST {} -> {}, {} is {} chars", setup.path, resp.status, setup.token_field, token.len());
    Ok(token)
}

struct RunReport {
    concurrency: usize,
    summary: Option<stats::Summary>,
    statuses: BTreeMap<u16, u64>,
    io_errors: u64,
    first_io_error: Option<String>,
    peak: procfs::Peak,
    /// Long-polls that followed `{cursor}`: answers with events, None when the route has none.
    event_answers: Option<u64>,
}

/// One run: `c` threads, each with its own connection, for warmup + duration.
fn run_one(addr: SocketAddr, req: &Arc<Request>, c: usize, o: &Options, pid: Option<u32>) -> Result<RunReport, String> {
    let sampler = pid.map(procfs::Sampler::start);
    let measure_from = Instant::now() + o.warmup;
    let until = measure_from + o.duration;
    let timeout = o.timeout;
    // `--rate` is for the whole run: each of the c threads sends at rate / c.
    let pace = o.rate.map(|r| Duration::from_secs_f64(c as f64 / r));
    let mut handles = Vec::with_capacity(c);
    for i in 0..c {
        let req = Arc::clone(req);
        let h = thread::Builder::new()
            .name(format!("load-{i}"))
            .spawn(move || client::worker(addr, &req, timeout, measure_from, until, pace))
            .map_err(|e| format!("cannot start load thread: {e}"))?;
        handles.push(h);
    }
    let results: Vec<WorkerResult> = handles
        .into_iter()
        .map(|h| h.join().map_err(|_| "load thread panicked".to_string()))
        .collect::<Result<_, _>>()?;
    let peak = sampler.map(procfs::Sampler::finish).unwrap_or_default();

    let mut statuses = BTreeMap::new();
    let mut io_errors = 0;
    let mut first_io_error = None;
    let mut latencies = Vec::with_capacity(results.len());
    let event_answers = req.follows_cursor().then(|| results.iter().map(|r| r.event_answers).sum());
    for r in results {
        for (code, n) in r.statuses {
            *statuses.entry(code).or_insert(0) += n;
        }
        io_errors += r.io_errors;
        first_io_error = first_io_error.or(r.first_io_error);
        latencies.push(r.latencies_us);
    }
    Ok(RunReport {
        concurrency: c,
        summary: stats::summarize(latencies),
        statuses,
        io_errors,
        first_io_error,
        peak,
        event_answers,
    })
}

impl RunReport {
    fn bad_statuses(&self) -> u64 {
        let ok = 200..400;
        self.statuses.iter().filter(|(c, _)| !ok.contains(*c)).map(|(_, n)| n).sum()
    }

    /// The aligned result line.
    fn row(&self, route: &str, route_width: usize, method: &str, duration: Duration) -> String {
        let secs = duration.as_secs_f64();
        let reqs = self.summary.map_or(0, |s| s.count);
        let pct = |f: fn(&stats::Summary) -> u64| self.summary.as_ref().map_or("n/a".into(), |s| stats::fmt_ms(f(s)));
        let na = || "n/a".to_string();
        let cells = [
            (format!("route={route}"), 6 + route_width),
            (format!("method={method}"), 0),
            (format!("c={}", self.concurrency), 6),
            (format!("dur={secs:.1}s"), 10),
            (format!("reqs={reqs}"), 14),
            (format!("req/s={:.0}", reqs as f64 / secs), 13),
            (format!("p50={}", pct(|s| s.p50)), 12),
            (format!("p99={}", pct(|s| s.p99)), 12),
            (format!("p999={}", pct(|s| s.p999)), 13),
            (format!("max={}", pct(|s| s.max)), 12),
            (format!("errors={}", self.bad_statuses() + self.io_errors), 13),
            (format!("rss_peak={}", self.peak.rss_kib.map_or_else(na, stats::fmt_mib)), 19),
            (format!("threads_peak={}", self.peak.threads.map_or_else(na, |t| t.to_string())), 0),
            (self.event_answers.map(|n| format!("event_answers={n}")).unwrap_or_default(), 0),
        ];
        let line: Vec<String> = cells.iter().map(|(s, w)| format!("{s:<w$}")).collect();
        line.join(" ").trim_end().to_string()
    }

    /// Per-status counts and the first I/O error, only when something failed.
    fn error_detail(&self) -> Option<String> {
        if self.bad_statuses() + self.io_errors == 0 {
            return None;
        }
        let codes: Vec<String> = self.statuses.iter().map(|(c, n)| format!("{c}={n}")).collect();
        let first = self.first_io_error.as_deref().map(|e| format!(" (first: {e})")).unwrap_or_default();
        Some(format!("    statuses: {} io_errors={}{first}", codes.join(" "), self.io_errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_a_full_command_line() {
        let o = parse_args(&args(
            "--url http://127.0.0.1:8080 --pid 42 --route /a --route=/b --method POST \
             --header X-A:1 --body {} --concurrency 1,2 --duration 0.5 --warmup 0 \
             --setup-post /login --setup-body {\"u\":1}",
        ));
        let o = o.unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(o.target, Target::Url(a) if a.port() == 8080));
        assert_eq!(o.pid, Some(42));
        assert_eq!(o.routes, ["/a", "/b"]);
        assert_eq!(o.concurrency, [1, 2]);
        assert_eq!(o.duration, Duration::from_millis(500));
        assert_eq!(o.warmup, Duration::ZERO);
        assert_eq!(o.headers.len(), 2, "X-A plus default Content-Type");
        assert_eq!(o.setup.map(|s| s.token_field), Some("accessToken".to_string()));
    }

    #[test]
    fn defaults_and_rejections() {
        let o = parse_args(&[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(o.rate, None);
        assert_eq!(parse_args(&args("--rate 12.5")).map(|o| o.rate), Ok(Some(12.5)));
        assert_eq!(o.routes, ["/healthz"]);
        assert_eq!(o.concurrency, [16, 64]);
        assert!(matches!(&o.target, Target::Spawn(p) if p.ends_with("target/release/buildxpert")));
        for bad in [
            "--url http://example.com:80",
            "--route healthz",
            "--concurrency 0",
            "--duration -1",
            "--pid 3",
            "--token-field x",
            "--method HEAD",
            "--bogus",
            "--rate 0",
            "--rate fast",
            "--seq-start -1",
        ] {
            assert!(parse_args(&args(bad)).is_err(), "{bad}");
        }
    }
}
