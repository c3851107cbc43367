//! Latency bookkeeping: exact percentiles over every recorded sample.
//!
//! Each worker thread pushes latencies (microseconds) into its own `Vec`;
//! at the end of a run the vectors are merged and sorted once. At the
//! request rates a 2-core box can produce (well under a million requests per
//! run) this costs a few MiB and gives exact p50/p99/p999.

/// Percentile summary of one run, all values in microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub count: usize,
    pub p50: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

/// Merges per-thread samples and computes the summary; `None` if empty.
pub fn summarize(parts: Vec<Vec<u64>>) -> Option<Summary> {
    let total = parts.iter().map(Vec::len).sum();
    let mut all = Vec::with_capacity(total);
    for part in parts {
        all.extend(part);
    }
    all.sort_unstable();
    let max = *all.last()?;
    Some(Summary {
        count: all.len(),
        p50: percentile(&all, 0.50),
        p99: percentile(&all, 0.99),
        p999: percentile(&all, 0.999),
        max,
    })
}

/// Nearest-rank percentile of an ascending, non-empty slice.
fn percentile(sorted: &[u64], p: f64) -> u64 {
    let n = sorted.len();
    let rank = (p * n as f64).ceil() as usize;
    sorted[rank.clamp(1, n) - 1]
}

/// Formats microseconds as milliseconds: microsecond resolution below 1 ms,
/// about three significant digits above.
pub fn fmt_ms(us: u64) -> String {
    let ms = us as f64 / 1000.0;
    if ms < 1.0 {
        format!("{ms:.3}ms")
    } else if ms < 10.0 {
        format!("{ms:.2}ms")
    } else if ms < 100.0 {
        format!("{ms:.1}ms")
    } else {
        format!("{ms:.0}ms")
    }
}

/// Formats KiB as MiB with one decimal.
pub fn fmt_mib(kib: u64) -> String {
    format!("{:.1}MiB", kib as f64 / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let samples: Vec<u64> = (1..=1000).collect();
        let s = summarize(vec![samples[..500].to_vec(), samples[500..].to_vec()]);
        assert_eq!(s, Some(Summary { count: 1000, p50: 500, p99: 990, p999: 999, max: 1000 }));
    }

    #[test]
    fn single_sample_and_empty() {
        let s = summarize(vec![vec![7], vec![]]).map(|s| (s.p50, s.p999, s.max));
        assert_eq!(s, Some((7, 7, 7)));
        assert_eq!(summarize(vec![vec![], vec![]]), None);
    }

    #[test]
    fn formatting() {
        assert_eq!(fmt_ms(350), "0.350ms");
        assert_eq!(fmt_ms(3_100), "3.10ms");
        assert_eq!(fmt_ms(31_240), "31.2ms");
        assert_eq!(fmt_ms(1_234_567), "1235ms");
        assert_eq!(fmt_mib(12_595), "12.3MiB");
    }
}
