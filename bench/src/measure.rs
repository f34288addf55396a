//! One measured window: `connections` workers, each calling the operation back to back on its
//! own pooled connection for a warm-up and then a fixed window, every call's latency recorded.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Result;

/// What one call did.
pub enum Outcome {
    Done,
    /// It created this row (a Vault secret, or stored credentials for this integration), which
    /// the benchmark removes afterwards.
    Created(Uuid),
    /// Nothing left to work on: every worker stops.
    Exhausted,
}

/// Throughput and latency of the calls that started inside the measured windows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sample {
    pub ops: u64,
    /// Measured time: from the end of each warm-up to the end of its window's last call.
    pub seconds: f64,
    pub ops_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub mean_ms: f64,
    pub max_ms: f64,
    /// The workers ran out of work before a window ended (`seconds` counts what ran).
    pub exhausted: bool,
    /// Throughput of each window (round) separately: their spread shows the run's noise.
    #[serde(default)]
    pub window_ops_per_sec: Vec<f64>,
}

/// xorshift64*: enough to pick rows and make payloads, no dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform enough in `0..n` for n far below 2^64.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

struct Worker {
    latencies_us: Vec<u32>,
    last_end: Option<Instant>,
    created: Vec<Uuid>,
}

/// The calls of one or more measured windows of one operation, merged.
#[derive(Debug, Default)]
pub struct Timings {
    latencies_us: Vec<u32>,
    seconds: f64,
    exhausted: bool,
    window_rates: Vec<f64>,
}

impl Timings {
    pub fn merge(&mut self, other: Timings) {
        self.latencies_us.extend(other.latencies_us);
        self.seconds += other.seconds;
        self.exhausted |= other.exhausted;
        self.window_rates.extend(other.window_rates);
    }

    /// Calls per second so far.
    pub fn rate(&self) -> f64 {
        if self.seconds > 0.0 {
            self.latencies_us.len() as f64 / self.seconds
        } else {
            0.0
        }
    }

    /// Throughput over all the windows, and latency percentiles by nearest rank.
    pub fn sample(mut self) -> Result<Sample> {
        if self.latencies_us.is_empty() || self.seconds <= 0.0 {
            return Err("no call completed inside the measured windows".into());
        }
        let latencies = &mut self.latencies_us;
        latencies.sort_unstable();
        let ms = |us: u32| f64::from(us) / 1000.0;
        let percentile = |q: f64| {
            let rank = ((q * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len());
            ms(latencies[rank - 1])
        };
        let total_us: u64 = latencies.iter().map(|&l| u64::from(l)).sum();
        Ok(Sample {
            ops: latencies.len() as u64,
            seconds: self.seconds,
            ops_per_sec: latencies.len() as f64 / self.seconds,
            p50_ms: percentile(0.50),
            p99_ms: percentile(0.99),
            mean_ms: total_us as f64 / latencies.len() as f64 / 1000.0,
            max_ms: ms(*latencies.last().expect("not empty")),
            exhausted: self.exhausted,
            window_ops_per_sec: self.window_rates,
        })
    }
}

/// Runs `op` on `connections` workers for `warmup` + `window`. Returns the timings of the calls
/// that started in the window and every row the calls created (warm-up included). Any failed
/// call fails the measurement.
pub async fn run<F, Fut>(
    connections: u32,
    warmup: Duration,
    window: Duration,
    op: F,
) -> Result<(Timings, Vec<Uuid>)>
where
    F: Fn(&mut Rng) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = std::result::Result<Outcome, String>> + Send + 'static,
{
    let op = Arc::new(op);
    let stop = Arc::new(AtomicBool::new(false));
    let seed = Uuid::new_v4().as_u64_pair().0;
    let start = Instant::now();
    let (window_start, window_end) = (start + warmup, start + warmup + window);
    let mut handles = Vec::new();
    for worker in 0..connections {
        let (op, stop) = (op.clone(), stop.clone());
        handles.push(tokio::spawn(async move {
            let mut rng = Rng::new(seed ^ (u64::from(worker) + 1).wrapping_mul(0x9e37_79b9));
            let mut state = Worker {
                latencies_us: Vec::new(),
                last_end: None,
                created: Vec::new(),
            };
            loop {
                let began = Instant::now();
                if began >= window_end || stop.load(Ordering::Relaxed) {
                    break;
                }
                let outcome = op(&mut rng).await;
                let ended = Instant::now();
                match outcome? {
                    Outcome::Done => {}
                    Outcome::Created(id) => state.created.push(id),
                    Outcome::Exhausted => {
                        stop.store(true, Ordering::Relaxed);
                        break;
                    }
                }
                if began >= window_start {
                    let micros = (ended - began).as_micros();
                    state
                        .latencies_us
                        .push(u32::try_from(micros).unwrap_or(u32::MAX));
                    state.last_end = Some(ended);
                }
            }
            Ok::<Worker, String>(state)
        }));
    }
    let mut timings = Timings::default();
    let mut last_end = window_start;
    let mut created = Vec::new();
    let mut failure = None;
    for handle in handles {
        match handle.await {
            Ok(Ok(worker)) => {
                timings.latencies_us.extend(worker.latencies_us);
                last_end = last_end.max(worker.last_end.unwrap_or(window_start));
                created.extend(worker.created);
            }
            Ok(Err(message)) => failure = failure.or(Some(message)),
            Err(panic) => failure = failure.or(Some(format!("worker failed: {panic}"))),
        }
    }
    if let Some(message) = failure {
        return Err(message.into());
    }
    timings.seconds = (last_end - window_start).as_secs_f64();
    timings.exhausted = stop.load(Ordering::Relaxed);
    timings.window_rates = vec![timings.rate()];
    Ok((timings, created))
}
