//! Request metrics in Prometheus text format: counts by method, route template and status, and a
//! latency histogram per route template. Gauges (connections, workers, database) are read at
//! scrape time by the caller and passed in.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Latency bucket upper bounds in seconds.
const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    total: u64,
}

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(String, &'static str, u16), u64>,
    latency: BTreeMap<&'static str, Histogram>,
}

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

pub struct Gauge {
    pub name: &'static str,
    pub help: &'static str,
    pub value: f64,
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics::default()
    }

    /// Records one finished request. `route` is the matched template (or "unmatched").
    pub fn observe(&self, method: &str, route: &'static str, status: u16, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let mut m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        // Methods are bounded to the ones we route; anything else is folded into OTHER.
        let method = match method {
            "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" => method,
            _ => "OTHER",
        };
        *m.requests.entry((method.to_string(), route, status)).or_insert(0) += 1;
        let h = m.latency.entry(route).or_default();
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                h.counts[i] += 1;
            }
        }
        h.sum += secs;
        h.total += 1;
    }

    /// Responses counted so far: (all, those with a 5xx status). The alerts compare two readings.
    pub fn totals(&self) -> (u64, u64) {
        let m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        m.requests.iter().fold((0, 0), |(all, errors), ((_, _, status), n)| {
            (all + n, if *status >= 500 { errors + n } else { errors })
        })
    }

    pub fn render(&self, gauges: &[Gauge]) -> String {
        let m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::with_capacity(4096);
        out.push_str("# HELP buildxpert_http_requests_total HTTP requests by method, route template and status.\n");
        out.push_str("# TYPE buildxpert_http_requests_total counter\n");
        for ((method, route, status), n) in &m.requests {
            let _ = writeln!(
                out,
                "buildxpert_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}",
                escape(route)
            );
        }
        out.push_str(
            "# HELP buildxpert_http_request_duration_seconds Time to produce a response, by route template.\n",
        );
        out.push_str("# TYPE buildxpert_http_request_duration_seconds histogram\n");
        for (route, h) in &m.latency {
            let r = escape(route);
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "buildxpert_http_request_duration_seconds_bucket{{route=\"{r}\",le=\"{b}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                out,
                "buildxpert_http_request_duration_seconds_bucket{{route=\"{r}\",le=\"+Inf\"}} {}",
                h.total
            );
            let _ = writeln!(out, "buildxpert_http_request_duration_seconds_sum{{route=\"{r}\"}} {}", h.sum);
            let _ = writeln!(out, "buildxpert_http_request_duration_seconds_count{{route=\"{r}\"}} {}", h.total);
        }
        for g in gauges {
            let _ = writeln!(out, "# HELP {} {}\n# TYPE {} gauge\n{} {}", g.name, g.help, g.name, g.name, g.value);
        }
        out
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_gauges() {
        let m = Metrics::new();
        m.observe("GET", "/healthz", 200, Duration::from_micros(300));
        m.observe("GET", "/healthz", 200, Duration::from_millis(30));
        m.observe("BREW", "unmatched", 404, Duration::from_millis(1));
        let text = m.render(&[Gauge { name: "buildxpert_open_connections", help: "Open connections.", value: 3.0 }]);
        assert!(text.contains("buildxpert_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 2"));
        assert!(text.contains("buildxpert_http_requests_total{method=\"OTHER\",route=\"unmatched\",status=\"404\"} 1"));
        assert!(text.contains("buildxpert_http_request_duration_seconds_bucket{route=\"/healthz\",le=\"0.0005\"} 1"));
        assert!(text.contains("buildxpert_http_request_duration_seconds_bucket{route=\"/healthz\",le=\"0.05\"} 2"));
        assert!(text.contains("buildxpert_http_request_duration_seconds_count{route=\"/healthz\"} 2"));
        assert!(text.contains("# TYPE buildxpert_open_connections gauge\nbuildxpert_open_connections 3"));
    }
}
