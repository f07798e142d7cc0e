//! Latency summaries.

use std::time::Duration;

/// Percentiles of a set of latencies (microseconds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Number of samples.
    pub count: usize,
    /// Median.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Slowest.
    pub max: Duration,
}

impl Summary {
    /// Summarises `micros` (sorted in place); all zero when empty.
    pub fn of(micros: &mut [u32]) -> Summary {
        micros.sort_unstable();
        let at = |q: f64| {
            if micros.is_empty() {
                return Duration::ZERO;
            }
            let index = ((micros.len() - 1) as f64 * q).round() as usize;
            Duration::from_micros(u64::from(micros[index]))
        };
        Summary {
            count: micros.len(),
            p50: at(0.50),
            p99: at(0.99),
            max: at(1.0),
        }
    }
}

/// A duration in milliseconds with three decimals, for tables.
pub fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let mut samples: Vec<u32> = (1..=100).rev().collect();
        let s = Summary::of(&mut samples);
        assert_eq!(s.count, 100);
        assert_eq!(s.p50, Duration::from_micros(51));
        assert_eq!(s.p99, Duration::from_micros(99));
        assert_eq!(s.max, Duration::from_micros(100));
        assert_eq!(Summary::of(&mut []).p99, Duration::ZERO);
        assert_eq!(ms(Duration::from_micros(1500)), "1.500");
    }
}
