//! A background runner for named periodic jobs. One thread runs the jobs that are due, records
//! each job's last outcome, and beats a heartbeat that `/readyz` checks: a wedged runner makes the
//! appliance report itself unready instead of silently not expiring, reminding or delivering.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the runner wakes to look for due jobs (and beats).
const TICK: Duration = Duration::from_millis(250);
/// A heartbeat older than this means the runner is stuck or gone.
pub const STALE_AFTER: Duration = Duration::from_secs(15);

pub type JobFn<T> = Box<dyn Fn(&T) -> Result<(), String> + Send + Sync>;

pub struct Job<T> {
    pub name: &'static str,
    pub every: Duration,
    pub run: JobFn<T>,
}

impl<T> Job<T> {
    /// A job that runs `run` every `every`; whatever it returns on success is ignored, and its
    /// error (any displayable one: `ApiError`, `DbError`, …) is recorded in the job's health.
    pub fn new<R, E: std::fmt::Display>(
        name: &'static str,
        every: Duration,
        run: impl Fn(&T) -> Result<R, E> + Send + Sync + 'static,
    ) -> Job<T> {
        Job { name, every, run: Box::new(move |t: &T| run(t).map(|_| ()).map_err(|e| e.to_string())) }
    }
}

#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobStatus {
    pub runs: u64,
    pub failures: u64,
    pub last_error: Option<String>,
    pub last_duration_ms: u64,
    /// Wall-clock Unix ms of the last run's end (0 = never ran).
    pub last_run_unix_ms: u64,
}

/// Shared view of the runner for health checks.
pub struct JobHealth {
    origin: Instant,
    /// Milliseconds since `origin` of the last beat; 0 = never beat.
    beat_ms: AtomicU64,
    status: Mutex<BTreeMap<&'static str, JobStatus>>,
}

impl Default for JobHealth {
    fn default() -> Self {
        JobHealth { origin: Instant::now(), beat_ms: AtomicU64::new(0), status: Mutex::new(BTreeMap::new()) }
    }
}

impl JobHealth {
    fn beat(&self) {
        let ms = self.origin.elapsed().as_millis() as u64;
        self.beat_ms.store(ms.max(1), Ordering::Relaxed);
    }

    /// Ok when the runner beat recently.
    pub fn check(&self) -> Result<(), String> {
        let beat = self.beat_ms.load(Ordering::Relaxed);
        if beat == 0 {
            return Err("the job runner is not running".into());
        }
        let age = self.origin.elapsed().saturating_sub(Duration::from_millis(beat));
        if age > STALE_AFTER {
            return Err(format!("the job runner last beat {} s ago", age.as_secs()));
        }
        Ok(())
    }

    /// Marks the runner stopped (readiness then fails).
    pub fn stopped(&self) {
        self.beat_ms.store(0, Ordering::Relaxed);
    }

    pub fn statuses(&self) -> BTreeMap<&'static str, JobStatus> {
        self.status.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn record(&self, name: &'static str, result: Result<(), String>, took: Duration) {
        let mut map = self.status.lock().unwrap_or_else(|p| p.into_inner());
        let s = map.entry(name).or_default();
        s.runs += 1;
        s.last_duration_ms = took.as_millis() as u64;
        s.last_run_unix_ms =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        match result {
            Ok(()) => s.last_error = None,
            Err(e) => {
                s.failures += 1;
                s.last_error = Some(e);
            }
        }
    }
}

/// Runs one job now, catching panics, and records the outcome (also used by tests).
pub fn run_job<T>(ctx: &T, job: &Job<T>, health: &JobHealth) -> Result<(), String> {
    let started = Instant::now();
    let result = match catch_unwind(AssertUnwindSafe(|| (job.run)(ctx))) {
        Ok(r) => r,
        Err(_) => Err("the job panicked".to_string()),
    };
    if let Err(e) = &result {
        log::error!("job {} failed: {e}", job.name);
    }
    health.record(job.name, result.clone(), started.elapsed());
    result
}

pub struct Runner {
    stop: Arc<(Mutex<bool>, Condvar)>,
    handle: Option<JoinHandle<()>>,
    health: Arc<JobHealth>,
}

impl Runner {
    /// Starts the runner thread. Each job first runs one interval after start.
    pub fn start<T: Send + Sync + 'static>(ctx: Arc<T>, jobs: Vec<Job<T>>, health: Arc<JobHealth>) -> Runner {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let (stop2, health2) = (stop.clone(), health.clone());
        health.beat();
        let handle = std::thread::Builder::new()
            .name("jobs".into())
            .spawn(move || {
                let mut next: Vec<Instant> = jobs.iter().map(|j| Instant::now() + j.every).collect();
                loop {
                    health2.beat();
                    for (i, job) in jobs.iter().enumerate() {
                        if Instant::now() >= next[i] {
                            let _ = run_job(ctx.as_ref(), job, &health2);
                            next[i] = Instant::now() + job.every;
                        }
                    }
                    let (lock, cv) = &*stop2;
                    let stopped = lock.lock().unwrap_or_else(|p| p.into_inner());
                    if *stopped {
                        break;
                    }
                    let (stopped, _) = cv.wait_timeout(stopped, TICK).unwrap_or_else(|p| p.into_inner());
                    if *stopped {
                        break;
                    }
                }
                health2.stopped();
            })
            .ok();
        Runner { stop, handle, health }
    }

    /// Asks the runner to stop after the job in progress, and waits for it.
    pub fn stop(mut self) {
        self.stop_inner();
    }

    fn stop_inner(&mut self) {
        let (lock, cv) = &*self.stop;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) = true;
        cv.notify_all();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        self.health.stopped();
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        self.stop_inner();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn runs_jobs_records_failures_and_beats() {
        let counter = Arc::new(AtomicUsize::new(0));
        let health = Arc::new(JobHealth::default());
        assert!(health.check().is_err(), "not running yet");
        let jobs = vec![
            Job::new("count", Duration::from_millis(20), |c: &AtomicUsize| {
                c.fetch_add(1, Ordering::SeqCst);
                Ok::<_, String>(())
            }),
            Job::new("fail", Duration::from_millis(20), |_: &AtomicUsize| Err::<(), _>("boom")),
            Job::new("panic", Duration::from_millis(20), |_: &AtomicUsize| -> Result<(), String> {
                panic!("job panic")
            }),
        ];
        let runner = Runner::start(counter.clone(), jobs, health.clone());
        std::thread::sleep(Duration::from_millis(700));
        assert!(health.check().is_ok());
        assert!(counter.load(Ordering::SeqCst) >= 1);
        let st = health.statuses();
        assert!(st["fail"].failures >= 1 && st["fail"].last_error.as_deref() == Some("boom"));
        assert!(st["panic"].failures >= 1, "a panicking job does not kill the runner");
        runner.stop();
        assert!(health.check().is_err(), "stopped runner is reported");
    }
}
