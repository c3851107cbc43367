//! Samples the server process from `/proc/PID/status` while a run is going.

use std::fs;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// How often the server is sampled.
pub const INTERVAL: Duration = Duration::from_millis(100);

/// One reading of `/proc/PID/status` (sizes in KiB).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Sample {
    pub rss_kib: Option<u64>,
    pub hwm_kib: Option<u64>,
    pub threads: Option<u64>,
}

/// Highest values seen over a run.
#[derive(Debug, Default, Clone, Copy)]
pub struct Peak {
    /// Max of every VmRSS and VmHWM reading, KiB.
    pub rss_kib: Option<u64>,
    pub threads: Option<u64>,
}

impl Peak {
    fn update(&mut self, s: Sample) {
        for v in [s.rss_kib, s.hwm_kib].into_iter().flatten() {
            self.rss_kib = Some(self.rss_kib.map_or(v, |p| p.max(v)));
        }
        if let Some(t) = s.threads {
            self.threads = Some(self.threads.map_or(t, |p| p.max(t)));
        }
    }
}

/// Reads and parses `/proc/PID/status`; `None` once the process is gone.
pub fn read_status(pid: u32) -> Option<Sample> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some(parse_status(&text))
}

fn parse_status(text: &str) -> Sample {
    let mut s = Sample::default();
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        // Values look like "  12345 kB" or "\t70".
        let value = rest.split_whitespace().next().and_then(|v| v.parse().ok());
        match key {
            "VmRSS" => s.rss_kib = value,
            "VmHWM" => s.hwm_kib = value,
            "Threads" => s.threads = value,
            _ => {}
        }
    }
    s
}

/// Background thread sampling one pid every [`INTERVAL`] until [`Sampler::finish`].
pub struct Sampler {
    stop: Sender<()>,
    handle: JoinHandle<Peak>,
}

impl Sampler {
    pub fn start(pid: u32) -> Sampler {
        let (stop, stopped) = mpsc::channel::<()>();
        let handle = thread::spawn(move || {
            let mut peak = Peak::default();
            loop {
                if let Some(s) = read_status(pid) {
                    peak.update(s);
                }
                if !matches!(stopped.recv_timeout(INTERVAL), Err(RecvTimeoutError::Timeout)) {
                    break;
                }
            }
            // One last reading so the end of the run is always covered.
            if let Some(s) = read_status(pid) {
                peak.update(s);
            }
            peak
        });
        Sampler { stop, handle }
    }

    /// Stops sampling (the thread takes one last reading) and returns the peaks.
    pub fn finish(self) -> Peak {
        // A send error only means the thread already ended.
        let _ = self.stop.send(());
        self.handle.join().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_fields() {
        let text = "Name:\tbuildxpert\nVmHWM:\t   20480 kB\nVmRSS:\t   12288 kB\nThreads:\t70\n";
        let s = parse_status(text);
        assert_eq!(s, Sample { rss_kib: Some(12288), hwm_kib: Some(20480), threads: Some(70) });
        let mut p = Peak::default();
        p.update(s);
        assert_eq!((p.rss_kib, p.threads), (Some(20480), Some(70)));
    }

    #[test]
    fn samples_own_process() {
        let s = read_status(std::process::id()).unwrap_or_default();
        assert!(s.rss_kib.is_some() && s.threads.is_some());
    }
}
