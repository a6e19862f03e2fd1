//! An open-loop, fixed-rate HTTP/1.1 load generator for
//! `scripts/bench-dataplane.sh`: it measures latency *below* saturation,
//! where wrk (closed loop, as fast as it can) measures queueing.
//!
//! Usage: `bench_load URL RATE [SECONDS] [CONNECTIONS] [WARMUP_SECONDS]`
//! (defaults: 10 s, 16 keep-alive connections, 2 s warm-up).
//!
//! Request *i* is due at `start + i / RATE`, on connection `i mod
//! CONNECTIONS`; the schedule never waits for responses (open loop). A
//! request's latency runs from the moment it was due to its last response
//! byte, so a request that had to wait for a slow previous response on its
//! connection is charged that wait (coordinated omission corrected, like
//! wrk2). The one exception is this tool's own timer: tokio's timer has a
//! resolution of one millisecond, so when the connection was idle at the
//! due time the clock starts when the request is actually sent.
//!
//! Prints one line: `achieved_rps p50_ms p99_ms p999_ms max_ms requests errors`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::HOST;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

type Error = Box<dyn std::error::Error + Send + Sync>;

fn arg<T: std::str::FromStr>(n: usize, default: Option<T>) -> T {
    match std::env::args().nth(n) {
        Some(value) => value.parse().unwrap_or_else(|_| usage()),
        None => default.unwrap_or_else(|| usage()),
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: bench_load http://HOST:PORT/PATH RATE [SECONDS] [CONNECTIONS] [WARMUP_SECONDS]"
    );
    std::process::exit(2)
}

struct Target {
    addr: String,
    path: String,
}

fn parse_url(url: &str) -> Target {
    let rest = url.strip_prefix("http://").unwrap_or_else(|| usage());
    let (addr, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    Target {
        addr: addr.to_string(),
        path: path.to_string(),
    }
}

async fn connect(target: &Target) -> Result<SendRequest<Empty<Bytes>>, Error> {
    let stream = TcpStream::connect(&target.addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    Ok(sender)
}

async fn get(sender: &mut SendRequest<Empty<Bytes>>, target: &Target) -> Result<bool, Error> {
    sender.ready().await?;
    let request = Request::get(target.path.as_str())
        .header(HOST, target.addr.as_str())
        .body(Empty::new())?;
    let response = sender.send_request(request).await?;
    let ok = response.status().is_success();
    response.into_body().collect().await?;
    Ok(ok)
}

struct Recorded {
    histogram: Histogram<u64>,
    requests: u64,
    errors: u64,
}

/// One connection's share of the schedule: requests `first`, `first + step`, …
async fn connection(
    target: &Target,
    start: Instant,
    interval: Duration,
    first: u64,
    step: u64,
    measure_from: Instant,
    end: Instant,
) -> Result<Recorded, Error> {
    let mut recorded = Recorded {
        histogram: Histogram::new_with_bounds(1_000, 60_000_000_000, 3)?,
        requests: 0,
        errors: 0,
    };
    let mut sender = connect(target).await?;
    let mut i = first;
    loop {
        let due = start + interval.mul_f64(i as f64);
        if due >= end {
            return Ok(recorded);
        }
        let now = Instant::now();
        let clock_from = if now < due {
            tokio::time::sleep_until(due.into()).await;
            // Idle at the due time: the timer's lateness is ours, not the server's.
            Instant::now()
        } else {
            // Behind schedule: the wait for the previous response counts.
            due
        };
        let ok = match get(&mut sender, target).await {
            Ok(ok) => ok,
            Err(_) => {
                sender = connect(target).await?;
                false
            }
        };
        if due >= measure_from {
            let latency = clock_from.elapsed().as_nanos() as u64;
            recorded.histogram.saturating_record(latency.max(1_000));
            recorded.requests += 1;
            recorded.errors += u64::from(!ok);
        }
        i += step;
    }
}

fn main() -> Result<(), Error> {
    let target = parse_url(&arg::<String>(1, None));
    let rate: f64 = arg(2, None);
    let seconds: f64 = arg(3, Some(10.0));
    let connections: u64 = arg(4, Some(16));
    let warmup: f64 = arg(5, Some(2.0));
    if rate <= 0.0 || seconds <= 0.0 || connections == 0 {
        usage();
    }
    // One thread: the load tool takes at most one of the machine's cores.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let target: &'static Target = Box::leak(Box::new(target));
        let interval = Duration::from_secs_f64(1.0 / rate);
        let start = Instant::now() + Duration::from_millis(100);
        let measure_from = start + Duration::from_secs_f64(warmup);
        let end = measure_from + Duration::from_secs_f64(seconds);
        let tasks: Vec<_> = (0..connections)
            .map(|c| {
                tokio::spawn(connection(
                    target,
                    start,
                    interval,
                    c,
                    connections,
                    measure_from,
                    end,
                ))
            })
            .collect();
        let mut total = Histogram::<u64>::new_with_bounds(1_000, 60_000_000_000, 3)?;
        let (mut requests, mut errors) = (0, 0);
        for task in tasks {
            let recorded = task.await??;
            total.add(&recorded.histogram)?;
            requests += recorded.requests;
            errors += recorded.errors;
        }
        // Achieved rate over the measured window; below RATE means the
        // server (or this tool) could not keep up and latencies include it.
        let window = Instant::now().duration_since(measure_from).as_secs_f64();
        let ms = |q: f64| total.value_at_quantile(q) as f64 / 1e6;
        println!(
            "{:.0} {:.3} {:.3} {:.3} {:.3} {} {}",
            requests as f64 / window.max(seconds),
            ms(0.5),
            ms(0.99),
            ms(0.999),
            total.max() as f64 / 1e6,
            requests,
            errors
        );
        Ok(())
    })
}
