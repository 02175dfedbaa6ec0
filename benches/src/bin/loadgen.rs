//! `loadgen`: sends SubjectAccessReviews to a running `scopegate serve` over keep-alive
//! HTTPS (or HTTP) connections and reports throughput, latency percentiles, errors and the
//! allowed / no-opinion split.
//!
//! Two modes:
//! - closed loop (default): `--connections N` tasks, each with its own connection, send the
//!   next request as soon as the previous answer is in, for `--duration` seconds. Latency is
//!   measured from sending to the last byte of the answer.
//! - open loop (`--rate R`): requests are scheduled at fixed intended times (`R` per
//!   second) by a pacing thread and picked up by whichever connection is free; latency is
//!   measured from the *intended* send time, so time spent queued behind a slow answer
//!   counts (no coordinated omission). The time from the actual send is reported too.
//!
//! Bodies come from the demo personas (for the embedded demo policy) or, with
//! `--policy-size`, from the generator, consistent with `gen_policy --size` and the same
//! `--seed`. Each answer is checked against the answer the request must get.
//!
//! The target must be a loopback address, and every run stops by itself: the duration is
//! bounded and in-flight requests have `--timeout-ms` to finish.
//!
//! ```text
//! loadgen --ca /tmp/sg-bench/ca.crt --addr 127.0.0.1:18443 --connections 32 --duration 10
//! loadgen --ca /tmp/sg-bench/ca.crt --addr 127.0.0.1:18443 --rate 10000 --duration 10
//! loadgen --ca /tmp/sg-bench/ca.crt --addr 127.0.0.1:18443 --policy-size 100k --rate 10000
//! ```

use anyhow::{Context, bail};
use clap::Parser;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::StatusCode;
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use scopegate_benches::{Expected, GeneratedPolicy, LabelledRequest, PolicySize, sar_body};
use scopegate_core::model::ScopeKind;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

/// The longest run accepted, warm-up included, in seconds.
const MAX_RUN_SECONDS: f64 = 3_600.0;
/// The most open-loop requests that may wait for a free connection; later ones are not
/// sent and count as `unsent` errors.
const MAX_BACKLOG: usize = 1_000_000;
/// The highest latency recorded, in microseconds (a minute); longer is clamped.
const MAX_LATENCY_US: u64 = 60_000_000;

/// Load generator for the Scopegate webhook (loopback targets only).
#[derive(Debug, Parser)]
#[command(name = "loadgen", about)]
struct Args {
    /// The webhook's address, HOST:PORT; it must resolve to a loopback address.
    #[arg(long, default_value = "127.0.0.1:8443")]
    addr: String,
    /// The path reviews are POSTed to.
    #[arg(long, default_value = "/authorize")]
    path: String,
    /// Plain HTTP, for `scopegate serve --insecure-http`.
    #[arg(long)]
    insecure: bool,
    /// CA certificate (PEM) the server's certificate must chain to, e.g. ca.crt written by
    /// `scopegate serve --self-signed DIR`.
    #[arg(long, value_name = "FILE", required_unless_present = "insecure")]
    ca: Option<PathBuf>,
    /// Client certificate (PEM) to present, for a server started with --client-ca.
    #[arg(long, value_name = "FILE", requires = "key")]
    cert: Option<PathBuf>,
    /// Private key (PEM) of --cert.
    #[arg(long, value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,
    /// The TLS server name to verify; default: the host part of --addr.
    #[arg(long)]
    server_name: Option<String>,
    /// Keep-alive connections (one task each).
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Measured seconds (after the warm-up).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of load before measuring starts (not counted).
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Open loop: this many requests per second at fixed intended times. Without it, each
    /// connection sends as fast as answers come back (closed loop).
    #[arg(long, value_name = "PER_SECOND")]
    rate: Option<f64>,
    /// Use generated requests consistent with `gen_policy --size SIZE --seed SEED`
    /// (1k, 10k, 100k, 1m) instead of the demo personas' requests.
    #[arg(long, value_name = "SIZE")]
    policy_size: Option<PolicySize>,
    /// The policy generator's seed (must match gen_policy's).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// The seed of the request generator.
    #[arg(long, default_value_t = 7)]
    request_seed: u64,
    /// How many distinct generated requests to cycle through.
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Client runtime threads (1 = a single-threaded runtime). The client shares the
    /// machine with the server: keep it small.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Time one request may take before it counts as an error, in milliseconds.
    #[arg(long, default_value_t = 5_000)]
    timeout_ms: u64,
    /// The server's process id: report its CPU time during the measurement and its
    /// resident memory (VmRSS, VmHWM) at the end, read from /proc.
    #[arg(long, value_name = "PID")]
    server_pid: Option<u32>,
    /// Print the results as one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Where and how to connect.
struct Target {
    addr: SocketAddr,
    host_header: String,
    path: String,
    tls: Option<(tokio_rustls::TlsConnector, ServerName<'static>)>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    validate(&args)?;
    let bodies = bodies(&args)?;
    let target = Arc::new(target(&args)?);
    let runtime = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()?
    };
    let report = runtime.block_on(run(&args, target, bodies))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.text());
    }
    Ok(())
}

fn validate(args: &Args) -> anyhow::Result<()> {
    if args.connections == 0 || args.connections > 4_096 {
        bail!("--connections must be between 1 and 4096");
    }
    if !(args.duration > 0.0
        && args.warmup >= 0.0
        && args.duration + args.warmup <= MAX_RUN_SECONDS)
    {
        bail!("--duration must be positive and --duration + --warmup at most {MAX_RUN_SECONDS} s");
    }
    if let Some(rate) = args.rate
        && !(rate > 0.0 && rate <= 1_000_000.0)
    {
        bail!("--rate must be between 0 and 1,000,000 per second");
    }
    if args.requests == 0 {
        bail!("--requests must be positive");
    }
    if args.timeout_ms == 0 || args.timeout_ms > 60_000 {
        bail!("--timeout-ms must be between 1 and 60000");
    }
    Ok(())
}

/// The request bodies to cycle through, with the answer each must get.
fn bodies(args: &Args) -> anyhow::Result<Arc<Vec<(Bytes, Expected)>>> {
    let labelled: Vec<LabelledRequest> = match args.policy_size {
        Some(size) => GeneratedPolicy::new(size, args.seed)
            .labelled_requests(args.requests, args.request_seed),
        None => scopegate_benches::demo_requests(),
    };
    if labelled.is_empty() {
        bail!("no requests to send");
    }
    Ok(Arc::new(
        labelled
            .iter()
            .map(|r| (Bytes::from(sar_body(&r.request)), r.expected))
            .collect(),
    ))
}

fn target(args: &Args) -> anyhow::Result<Target> {
    let addrs: Vec<SocketAddr> = args
        .addr
        .to_socket_addrs()
        .with_context(|| format!("--addr {}: not a HOST:PORT that resolves", args.addr))?
        .collect();
    let Some(addr) = addrs.iter().copied().find(|a| a.ip().is_loopback()) else {
        bail!(
            "--addr {} does not resolve to a loopback address: loadgen only targets this machine",
            args.addr
        );
    };
    let tls = if args.insecure {
        None
    } else {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        let ca = args
            .ca
            .as_ref()
            .context("--ca is required without --insecure")?;
        for cert in CertificateDer::pem_file_iter(ca)
            .with_context(|| format!("{}: cannot read", ca.display()))?
        {
            roots
                .add(cert.with_context(|| format!("{}: not a PEM certificate", ca.display()))?)
                .with_context(|| format!("{}: not a usable CA certificate", ca.display()))?;
        }
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots);
        let mut config = match (&args.cert, &args.key) {
            (Some(cert), Some(key)) => {
                let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
                    .with_context(|| format!("{}: cannot read", cert.display()))?
                    .collect::<Result<_, _>>()
                    .with_context(|| format!("{}: not PEM certificates", cert.display()))?;
                let key = PrivateKeyDer::from_pem_file(key)
                    .with_context(|| format!("{}: not a PEM private key", key.display()))?;
                builder.with_client_auth_cert(chain, key)?
            }
            _ => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let host = match &args.server_name {
            Some(name) => name.clone(),
            None => host_part(&args.addr),
        };
        let name = ServerName::try_from(host.clone())
            .with_context(|| format!("{host:?} is not a valid TLS server name"))?;
        Some((tokio_rustls::TlsConnector::from(Arc::new(config)), name))
    };
    Ok(Target {
        addr,
        host_header: args.addr.clone(),
        path: args.path.clone(),
        tls,
    })
}

/// The host of HOST:PORT, without IPv6 brackets.
fn host_part(addr: &str) -> String {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_string()
}

type Sender = SendRequest<Full<Bytes>>;

/// Opens one keep-alive HTTP/1.1 connection (TLS handshake included).
async fn connect(target: &Target) -> anyhow::Result<Sender> {
    let tcp = TcpStream::connect(target.addr)
        .await
        .with_context(|| format!("cannot connect to {}", target.addr))?;
    tcp.set_nodelay(true)?;
    match &target.tls {
        Some((connector, name)) => {
            let tls = connector
                .connect(name.clone(), tcp)
                .await
                .context("TLS handshake failed")?;
            handshake(tls).await
        }
        None => handshake(tcp).await,
    }
}

async fn handshake<S>(stream: S) -> anyhow::Result<Sender>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        // Ends when the sender is dropped or the server closes the connection.
        let _ = connection.await;
    });
    Ok(sender)
}

/// The `status` of an answered review.
#[derive(Deserialize)]
struct Answer {
    status: Option<AnswerStatus>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AnswerStatus {
    allowed: Option<bool>,
    #[serde(default)]
    denied: bool,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    evaluation_error: Option<String>,
}

/// What one request came to.
enum Outcome {
    /// 200 and allowed; the scope kind named in the reason, when it names one.
    Allowed(Option<ScopeKind>),
    /// 200 and no opinion.
    NoOpinion,
    /// 200 with `evaluationError` set.
    EvaluationError,
    /// 200 with `denied: true` (Scopegate never denies).
    Denied,
    /// 200 but not a SubjectAccessReview with a status.
    InvalidBody,
    /// Another HTTP status.
    Http(StatusCode),
    /// The connection failed.
    Transport,
    /// No answer within --timeout-ms.
    Timeout,
}

fn classify(status: StatusCode, body: &[u8]) -> Outcome {
    if status != StatusCode::OK {
        return Outcome::Http(status);
    }
    let Ok(Answer { status: Some(s) }) = serde_json::from_slice::<Answer>(body) else {
        return Outcome::InvalidBody;
    };
    if s.denied {
        return Outcome::Denied;
    }
    if s.evaluation_error.is_some() {
        return Outcome::EvaluationError;
    }
    match s.allowed {
        Some(true) => Outcome::Allowed(scope_in_reason(&s.reason)),
        Some(false) => Outcome::NoOpinion,
        None => Outcome::InvalidBody,
    }
}

/// The scope kind in a reason like `allowed by ... (role ..., rule 0) at Workspace "ws"`.
fn scope_in_reason(reason: &str) -> Option<ScopeKind> {
    let (_, at) = reason.rsplit_once(") at ")?;
    let word = at.split_whitespace().next()?;
    ScopeKind::ALL.into_iter().find(|k| k.as_str() == word)
}

/// Counters and histograms of one worker; merged at the end.
struct Stats {
    /// Closed loop: from send to answer. Open loop: from intended send time to answer.
    latency: Histogram<u64>,
    /// From the actual send to the answer (open loop only; equals `latency` when closed).
    service: Histogram<u64>,
    completed: u64,
    answered_in_window: u64,
    allowed: u64,
    no_opinion: u64,
    by_scope: [u64; 7],
    evaluation_errors: u64,
    denied: u64,
    invalid_bodies: u64,
    http_errors: BTreeMap<u16, u64>,
    transport_errors: u64,
    timeouts: u64,
    mismatches: u64,
    unsent: u64,
    reconnects: u64,
}

impl Stats {
    fn new() -> Self {
        let histogram = || {
            Histogram::<u64>::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds")
        };
        Stats {
            latency: histogram(),
            service: histogram(),
            completed: 0,
            answered_in_window: 0,
            allowed: 0,
            no_opinion: 0,
            by_scope: [0; 7],
            evaluation_errors: 0,
            denied: 0,
            invalid_bodies: 0,
            http_errors: BTreeMap::new(),
            transport_errors: 0,
            timeouts: 0,
            mismatches: 0,
            unsent: 0,
            reconnects: 0,
        }
    }

    /// Records one measured request; `in_window` when its answer came before the end of
    /// the measured window (only those count for throughput).
    fn record(
        &mut self,
        outcome: &Outcome,
        expected: Expected,
        latency: Duration,
        service: Duration,
        in_window: bool,
    ) {
        let us = |d: Duration| (d.as_micros() as u64).clamp(1, MAX_LATENCY_US);
        self.latency.saturating_record(us(latency));
        self.service.saturating_record(us(service));
        self.completed += 1;
        if in_window && matches!(outcome, Outcome::Allowed(_) | Outcome::NoOpinion) {
            self.answered_in_window += 1;
        }
        let allowed = match outcome {
            Outcome::Allowed(scope) => {
                self.allowed += 1;
                if let Some(kind) = scope
                    && let Some(i) = ScopeKind::ALL.iter().position(|k| k == kind)
                {
                    self.by_scope[i] += 1;
                }
                Some(true)
            }
            Outcome::NoOpinion => {
                self.no_opinion += 1;
                Some(false)
            }
            Outcome::EvaluationError => {
                self.evaluation_errors += 1;
                None
            }
            Outcome::Denied => {
                self.denied += 1;
                None
            }
            Outcome::InvalidBody => {
                self.invalid_bodies += 1;
                None
            }
            Outcome::Http(code) => {
                *self.http_errors.entry(code.as_u16()).or_default() += 1;
                None
            }
            Outcome::Transport => {
                self.transport_errors += 1;
                None
            }
            Outcome::Timeout => {
                self.timeouts += 1;
                None
            }
        };
        if allowed.is_some_and(|a| a != expected.is_allowed()) {
            self.mismatches += 1;
        }
    }

    fn merge(&mut self, other: &Stats) {
        self.latency.add(&other.latency).expect("same bounds");
        self.service.add(&other.service).expect("same bounds");
        self.completed += other.completed;
        self.answered_in_window += other.answered_in_window;
        self.allowed += other.allowed;
        self.no_opinion += other.no_opinion;
        for (a, b) in self.by_scope.iter_mut().zip(other.by_scope) {
            *a += b;
        }
        self.evaluation_errors += other.evaluation_errors;
        self.denied += other.denied;
        self.invalid_bodies += other.invalid_bodies;
        for (code, n) in &other.http_errors {
            *self.http_errors.entry(*code).or_default() += n;
        }
        self.transport_errors += other.transport_errors;
        self.timeouts += other.timeouts;
        self.mismatches += other.mismatches;
        self.unsent += other.unsent;
        self.reconnects += other.reconnects;
    }
}

/// One connection's worker: its connection (re-opened after a failure) and stats.
struct Worker {
    target: Arc<Target>,
    bodies: Arc<Vec<(Bytes, Expected)>>,
    sender: Option<Sender>,
    timeout: Duration,
    stats: Stats,
}

impl Worker {
    /// Sends body `index`; returns the outcome and when the answer was complete. The
    /// connection is dropped (and re-opened by the next call) after any failure.
    async fn send(&mut self, index: usize) -> (Outcome, Instant) {
        let (body, _) = &self.bodies[index % self.bodies.len()];
        let request = hyper::Request::post(self.target.path.as_str())
            .header(hyper::header::HOST, self.target.host_header.as_str())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(body.clone()))
            .expect("a valid request");
        let target = Arc::clone(&self.target);
        let mut sender = self.sender.take();
        let reconnect = sender.is_none();
        let attempt = async move {
            let mut s = match sender.take() {
                Some(s) => s,
                None => connect(&target).await?,
            };
            s.ready().await?;
            let response = s.send_request(request).await?;
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            anyhow::Ok((s, status, body))
        };
        if reconnect {
            self.stats.reconnects += 1;
        }
        match tokio::time::timeout(self.timeout, attempt).await {
            Ok(Ok((s, status, body))) => {
                let done = Instant::now();
                self.sender = Some(s);
                (classify(status, &body), done)
            }
            Ok(Err(_)) => (Outcome::Transport, Instant::now()),
            Err(_) => (Outcome::Timeout, Instant::now()),
        }
    }
}

/// The open loop's due requests, and a permit for each.
struct TicketQueue {
    tickets: std::sync::Mutex<VecDeque<Ticket>>,
    permits: Semaphore,
}

impl TicketQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Ticket>> {
        self.tickets.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A scheduled request of the open loop.
struct Ticket {
    seq: u64,
    intended: Instant,
}

async fn run(
    args: &Args,
    target: Arc<Target>,
    bodies: Arc<Vec<(Bytes, Expected)>>,
) -> anyhow::Result<Report> {
    let timeout = Duration::from_millis(args.timeout_ms);
    // Open every connection before the clock starts: handshakes are not measured.
    let mut workers = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        let sender = connect(&target).await?;
        workers.push(Worker {
            target: Arc::clone(&target),
            bodies: Arc::clone(&bodies),
            sender: Some(sender),
            timeout,
            stats: Stats::new(),
        });
    }
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(args.warmup);
    let end = measure_from + Duration::from_secs_f64(args.duration);
    // In the open loop, requests scheduled before `end` may still be sent until then.
    let drain_until = end + timeout;

    // CPU use over the measured window, sampled from /proc at its start and end.
    let server_pid = args.server_pid;
    let cpu_sampler = tokio::spawn(async move {
        tokio::time::sleep_until(tokio::time::Instant::from_std(measure_from)).await;
        let before = CpuSample::take(server_pid);
        tokio::time::sleep_until(tokio::time::Instant::from_std(end)).await;
        let after = CpuSample::take(server_pid);
        CpuUse::between(&before, &after)
    });

    let mut handles = Vec::new();
    let pacer = match args.rate {
        None => {
            let next = Arc::new(AtomicU64::new(0));
            for mut worker in workers {
                let next = Arc::clone(&next);
                handles.push(tokio::spawn(async move {
                    loop {
                        let sent = Instant::now();
                        if sent >= end {
                            break;
                        }
                        let index = next.fetch_add(1, Ordering::Relaxed) as usize;
                        let (outcome, done) = worker.send(index).await;
                        if sent >= measure_from {
                            let expected = worker.bodies[index % worker.bodies.len()].1;
                            worker.stats.record(
                                &outcome,
                                expected,
                                done - sent,
                                done - sent,
                                done <= end,
                            );
                        }
                        if matches!(outcome, Outcome::Transport | Outcome::Timeout) {
                            // Do not spin on a server that is gone.
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                    worker.stats
                }));
            }
            None
        }
        Some(rate) => {
            // Due tickets wait in a queue; each one adds a permit to the semaphore, which
            // wakes one idle worker (or lets a busy one take the ticket without waiting).
            let queue = Arc::new(TicketQueue {
                tickets: std::sync::Mutex::new(VecDeque::new()),
                permits: Semaphore::new(0),
            });
            let pacer_queue = Arc::clone(&queue);
            let connections = args.connections;
            // A thread, not a task: std's sleep wakes within tens of microseconds, tokio's
            // timer only at millisecond ticks.
            let pacer = std::thread::Builder::new()
                .name("pacer".into())
                .spawn(move || {
                    // Measured tickets never queued because the backlog was full.
                    let mut unsent = 0u64;
                    let mut seq: u64 = 0;
                    let at = |seq: u64| start + Duration::from_secs_f64(seq as f64 / rate);
                    loop {
                        let next = at(seq);
                        if next >= end {
                            break;
                        }
                        let now = Instant::now();
                        if next > now {
                            std::thread::sleep(next - now);
                        }
                        let now = Instant::now();
                        let mut due = 0;
                        {
                            let mut tickets = pacer_queue.lock();
                            while at(seq) <= now && at(seq) < end {
                                let intended = at(seq);
                                // Bounded, so that a server far slower than the rate cannot
                                // make the queue grow without limit.
                                if tickets.len() >= MAX_BACKLOG {
                                    unsent += u64::from(intended >= measure_from);
                                } else {
                                    tickets.push_back(Ticket { seq, intended });
                                    due += 1;
                                }
                                seq += 1;
                            }
                        }
                        pacer_queue.permits.add_permits(due);
                    }
                    // One permit more per worker: each finds the queue empty and stops.
                    pacer_queue.permits.add_permits(connections);
                    unsent
                })?;
            for mut worker in workers {
                let queue = Arc::clone(&queue);
                handles.push(tokio::spawn(async move {
                    loop {
                        match queue.permits.acquire().await {
                            Ok(permit) => permit.forget(),
                            Err(_) => break,
                        }
                        let Some(ticket) = queue.lock().pop_front() else {
                            break;
                        };
                        let measured = ticket.intended >= measure_from;
                        if Instant::now() >= drain_until {
                            if measured {
                                worker.stats.unsent += 1;
                            }
                            continue;
                        }
                        let index = ticket.seq as usize;
                        let sent = Instant::now();
                        let (outcome, done) = worker.send(index).await;
                        if measured {
                            let expected = worker.bodies[index % worker.bodies.len()].1;
                            worker.stats.record(
                                &outcome,
                                expected,
                                done - ticket.intended,
                                done - sent,
                                done <= end,
                            );
                        }
                    }
                    worker.stats
                }));
            }
            Some(pacer)
        }
    };

    let mut total = Stats::new();
    // Every worker ends by itself; this bound is a second guarantee.
    let hard_stop = tokio::time::Instant::from_std(drain_until + timeout + Duration::from_secs(2));
    for handle in handles {
        let abort = handle.abort_handle();
        match tokio::time::timeout_at(hard_stop, handle).await {
            Ok(Ok(stats)) => total.merge(&stats),
            Ok(Err(e)) => bail!("a worker failed: {e}"),
            Err(_) => {
                abort.abort();
                bail!("a worker did not stop in time");
            }
        }
    }
    if let Some(pacer) = pacer {
        total.unsent += pacer.join().unwrap_or(0);
    }
    let cpu = cpu_sampler.await.ok().flatten();
    let memory = args.server_pid.and_then(ServerMemory::read);
    let mut report = Report::new(args, &bodies, total);
    report.cpu = cpu;
    report.server_memory = memory;
    Ok(report)
}

/// CPU counters at one instant, from /proc (Linux).
struct CpuSample {
    at: Instant,
    /// Every CPU's busy, interrupt (irq + softirq) and total time in clock ticks, from the
    /// first line of /proc/stat.
    machine: Option<(u64, u64, u64)>,
    cpus: usize,
    /// CPU time of this process and of the server, in nanoseconds.
    client_ns: Option<u64>,
    server_ns: Option<u64>,
}

impl CpuSample {
    fn take(server_pid: Option<u32>) -> Self {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let machine = stat.lines().next().and_then(|line| {
            let fields: Vec<u64> = line
                .split_whitespace()
                .skip(1)
                .filter_map(|f| f.parse().ok())
                .collect();
            // user nice system idle iowait irq softirq steal ...
            let total: u64 = fields.iter().take(8).sum();
            let idle = fields.get(3)? + fields.get(4).copied().unwrap_or(0);
            let interrupts =
                fields.get(5).copied().unwrap_or(0) + fields.get(6).copied().unwrap_or(0);
            Some((total - idle, interrupts, total))
        });
        let cpus = stat
            .lines()
            .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
            .count();
        CpuSample {
            at: Instant::now(),
            machine,
            cpus,
            client_ns: process_cpu_ns("self"),
            server_ns: server_pid.and_then(|pid| process_cpu_ns(&pid.to_string())),
        }
    }
}

/// A process' CPU time so far, in nanoseconds: the sum over its threads of
/// /proc/PID/task/TID/schedstat's first field.
fn process_cpu_ns(pid: &str) -> Option<u64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = 0u64;
    for task in tasks.flatten() {
        let text = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        total += text
            .split_whitespace()
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Some(total)
}

/// CPU use over the measured window, in cores (1.0 = one core busy the whole time).
#[derive(Serialize)]
struct CpuUse {
    cpus: usize,
    machine_cores: f64,
    client_cores: Option<f64>,
    server_cores: Option<f64>,
    /// Interrupt handling (irq and softirq: loopback networking among it).
    interrupt_cores: f64,
    /// What the rest of the machine (other processes) used.
    other_cores: Option<f64>,
}

impl CpuUse {
    fn between(a: &CpuSample, b: &CpuSample) -> Option<CpuUse> {
        let seconds = b.at.duration_since(a.at).as_secs_f64();
        let ((busy_a, irq_a, total_a), (busy_b, irq_b, total_b)) = (a.machine?, b.machine?);
        if seconds <= 0.0 || total_b <= total_a || b.cpus == 0 {
            return None;
        }
        let share = |x: u64| x as f64 / (total_b - total_a) as f64 * b.cpus as f64;
        let machine_cores = share(busy_b.saturating_sub(busy_a));
        let interrupt_cores = share(irq_b.saturating_sub(irq_a));
        let cores =
            |x: Option<u64>, y: Option<u64>| Some(y?.saturating_sub(x?) as f64 / 1e9 / seconds);
        let client_cores = cores(a.client_ns, b.client_ns);
        let server_cores = cores(a.server_ns, b.server_ns);
        let other_cores = match (client_cores, server_cores) {
            (Some(c), Some(s)) => Some((machine_cores - c - s - interrupt_cores).max(0.0)),
            _ => None,
        };
        Some(CpuUse {
            cpus: b.cpus,
            machine_cores,
            client_cores,
            server_cores,
            interrupt_cores,
            other_cores,
        })
    }
}

/// The server's resident memory, from /proc/PID/status.
#[derive(Serialize)]
struct ServerMemory {
    vm_rss_kib: u64,
    vm_hwm_kib: u64,
}

impl ServerMemory {
    fn read(pid: u32) -> Option<Self> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse::<u64>().ok())
        };
        Some(ServerMemory {
            vm_rss_kib: field("VmRSS:")?,
            vm_hwm_kib: field("VmHWM:")?,
        })
    }
}

/// Latency percentiles, in milliseconds.
#[derive(Serialize)]
struct Percentiles {
    p50: f64,
    p90: f64,
    p99: f64,
    p999: f64,
    max: f64,
    mean: f64,
}

impl Percentiles {
    fn of(h: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        Percentiles {
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
            mean: h.mean() / 1000.0,
        }
    }

    fn line(&self) -> String {
        format!(
            "p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}  (mean {:.3})",
            self.p50, self.p90, self.p99, self.p999, self.max, self.mean
        )
    }
}

/// Everything a run measured.
#[derive(Serialize)]
struct Report {
    target: String,
    mode: String,
    connections: usize,
    client_threads: usize,
    duration_s: f64,
    warmup_s: f64,
    target_rate: Option<f64>,
    bodies: String,
    /// Measured requests that got any outcome, errors included, whenever they completed.
    completed: u64,
    /// Valid answers (allowed or no opinion) that arrived within the measured window.
    answered_in_window: u64,
    /// `answered_in_window` per second of the window.
    throughput_per_s: f64,
    latency_ms: Percentiles,
    service_latency_ms: Option<Percentiles>,
    allowed: u64,
    no_opinion: u64,
    allowed_by_scope: BTreeMap<String, u64>,
    errors: u64,
    http_errors: BTreeMap<u16, u64>,
    transport_errors: u64,
    timeouts: u64,
    invalid_bodies: u64,
    evaluation_errors: u64,
    denied: u64,
    unsent: u64,
    reconnects: u64,
    expectation_mismatches: u64,
    cpu: Option<CpuUse>,
    server_memory: Option<ServerMemory>,
}

impl Report {
    fn new(args: &Args, bodies: &[(Bytes, Expected)], s: Stats) -> Self {
        let http: u64 = s.http_errors.values().sum();
        let scheme = if args.insecure { "http" } else { "https" };
        Report {
            target: format!("{scheme}://{}{}", args.addr, args.path),
            mode: match args.rate {
                Some(_) => "open loop (fixed rate; latency from intended send time)".into(),
                None => "closed loop (full speed)".into(),
            },
            connections: args.connections,
            client_threads: args.threads.max(1),
            duration_s: args.duration,
            warmup_s: args.warmup,
            target_rate: args.rate,
            bodies: match args.policy_size {
                Some(size) => format!(
                    "generated: policy {size} (seed {}), {} distinct requests (seed {})",
                    args.seed,
                    bodies.len(),
                    args.request_seed
                ),
                None => format!("demo personas: {} distinct requests", bodies.len()),
            },
            completed: s.completed,
            answered_in_window: s.answered_in_window,
            throughput_per_s: s.answered_in_window as f64 / args.duration,
            latency_ms: Percentiles::of(&s.latency),
            service_latency_ms: args.rate.map(|_| Percentiles::of(&s.service)),
            allowed: s.allowed,
            no_opinion: s.no_opinion,
            allowed_by_scope: ScopeKind::ALL
                .iter()
                .zip(s.by_scope)
                .filter(|(_, n)| *n > 0)
                .map(|(k, n)| (k.to_string(), n))
                .collect(),
            errors: http
                + s.transport_errors
                + s.timeouts
                + s.invalid_bodies
                + s.evaluation_errors
                + s.denied
                + s.unsent,
            http_errors: s.http_errors,
            transport_errors: s.transport_errors,
            timeouts: s.timeouts,
            invalid_bodies: s.invalid_bodies,
            evaluation_errors: s.evaluation_errors,
            denied: s.denied,
            unsent: s.unsent,
            reconnects: s.reconnects,
            expectation_mismatches: s.mismatches,
            cpu: None,
            server_memory: None,
        }
    }

    fn text(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let pct = |n: u64| {
            if self.completed == 0 {
                0.0
            } else {
                100.0 * n as f64 / self.completed as f64
            }
        };
        let _ = writeln!(out, "target      : {}", self.target);
        let _ = writeln!(
            out,
            "mode        : {}{}, {} connections, {} client thread(s), {:.1} s measured after {:.1} s warm-up",
            self.mode,
            self.target_rate
                .map(|r| format!(" at {r:.0}/s"))
                .unwrap_or_default(),
            self.connections,
            self.client_threads,
            self.duration_s,
            self.warmup_s
        );
        let _ = writeln!(out, "bodies      : {}", self.bodies);
        let _ = writeln!(
            out,
            "throughput  : {} answers in {:.1} s = {:.0}/s ({} measured requests completed in all, errors and late answers included)",
            self.answered_in_window, self.duration_s, self.throughput_per_s, self.completed
        );
        let _ = writeln!(out, "latency ms  : {}", self.latency_ms.line());
        if let Some(service) = &self.service_latency_ms {
            let _ = writeln!(out, "  from send : {}", service.line());
        }
        let _ = writeln!(
            out,
            "answers     : allowed {} ({:.1}%), no opinion {} ({:.1}%)",
            self.allowed,
            pct(self.allowed),
            self.no_opinion,
            pct(self.no_opinion)
        );
        let scopes: Vec<String> = self
            .allowed_by_scope
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let _ = writeln!(out, "allowed at  : {}", scopes.join(", "));
        let _ = writeln!(
            out,
            "errors      : {} (non-200 {:?}, transport {}, timeouts {}, invalid bodies {}, evaluationError {}, denied {}, unsent {}); reconnects {}",
            self.errors,
            self.http_errors,
            self.transport_errors,
            self.timeouts,
            self.invalid_bodies,
            self.evaluation_errors,
            self.denied,
            self.unsent,
            self.reconnects
        );
        let _ = writeln!(
            out,
            "mismatches  : {} answers differ from the expected allowed/no-opinion",
            self.expectation_mismatches
        );
        if let Some(cpu) = &self.cpu {
            let opt = |x: Option<f64>| x.map_or("?".to_string(), |v| format!("{v:.2}"));
            let per_answer = cpu
                .server_cores
                .filter(|_| self.answered_in_window > 0)
                .map(|c| {
                    format!(
                        " ({:.1} µs server CPU per answer)",
                        c * self.duration_s * 1e6 / self.answered_in_window as f64
                    )
                })
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "cpu (cores) : machine {:.2} of {} busy; server {}{}; loadgen {}; irq/softirq {:.2}; other processes {}",
                cpu.machine_cores,
                cpu.cpus,
                opt(cpu.server_cores),
                per_answer,
                opt(cpu.client_cores),
                cpu.interrupt_cores,
                opt(cpu.other_cores)
            );
        }
        if let Some(m) = &self.server_memory {
            let _ = writeln!(
                out,
                "server mem  : VmRSS {:.1} MiB, VmHWM {:.1} MiB",
                m.vm_rss_kib as f64 / 1024.0,
                m.vm_hwm_kib as f64 / 1024.0
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_name_their_scope() {
        assert_eq!(
            scope_in_reason(
                "allowed by IAMRoleBinding x (role IAMRole y, rule 0) at Workspace \"ws\""
            ),
            Some(ScopeKind::Workspace)
        );
        assert_eq!(
            scope_in_reason(
                "allowed by RoleBinding ns/x (role ClusterRole y, rule 2) at Resource pods.core ns/p"
            ),
            Some(ScopeKind::Resource)
        );
        assert_eq!(
            scope_in_reason("no Scopegate binding allows this request"),
            None
        );
    }

    #[test]
    fn answers_are_classified() {
        let ok = StatusCode::OK;
        assert!(matches!(
            classify(ok, br#"{"status":{"allowed":true,"reason":"allowed by a (role b, rule 0) at Platform"}}"#),
            Outcome::Allowed(Some(ScopeKind::Platform))
        ));
        assert!(matches!(
            classify(ok, br#"{"status":{"allowed":false}}"#),
            Outcome::NoOpinion
        ));
        assert!(matches!(
            classify(ok, br#"{"status":{"allowed":false,"evaluationError":"x"}}"#),
            Outcome::EvaluationError
        ));
        assert!(matches!(
            classify(ok, br#"{"kind":"x"}"#),
            Outcome::InvalidBody
        ));
        assert!(matches!(classify(ok, b"not json"), Outcome::InvalidBody));
        assert!(matches!(
            classify(StatusCode::SERVICE_UNAVAILABLE, b""),
            Outcome::Http(_)
        ));
    }

    #[test]
    fn only_loopback_targets() {
        let args = Args::parse_from(["loadgen", "--insecure", "--addr", "192.0.2.1:8443"]);
        assert!(target(&args).is_err());
        let args = Args::parse_from(["loadgen", "--insecure", "--addr", "127.0.0.1:8443"]);
        assert!(target(&args).is_ok());
    }

    #[test]
    fn host_part_strips_port_and_brackets() {
        assert_eq!(host_part("127.0.0.1:8443"), "127.0.0.1");
        assert_eq!(host_part("[::1]:8443"), "::1");
        assert_eq!(host_part("localhost:1"), "localhost");
    }
}
