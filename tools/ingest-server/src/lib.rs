//! An ingest server on ringwal, as a user would write one with tokio.
//!
//! * [`serve`]: a TCP server. Each request is one record; the server appends it with
//!   `Wal::append_async` and answers only once `Wal::durable` says it is on disk (group
//!   commit across every connection: one sync answers many requests). No thread blocks
//!   per request.
//! * [`follow`]: a follower task tailing the log (`Wal::tail` as a `Stream`): it sees
//!   each record once it is durable, in order, as a replica or a change feed would.
//! * [`load`]: a load generator: many connections, each sending requests one after
//!   another, measuring latency.
//!
//! The wire protocol (little-endian): request `u32 length, payload`; answer `u8 0,
//! u64 lsn` once durable, or `u8 1, u32 length, message` on error.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use ringwal::{Lsn, Tail, Wal};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream};

/// The largest request the server accepts.
pub const REQUEST_BYTES_MAX: u32 = 1 << 20;

/// What the server did.
#[derive(Debug, Default, Clone, Copy)]
pub struct ServeReport {
    /// Connections accepted.
    pub connections: u64,
    /// Requests answered with a durable LSN.
    pub acknowledged: u64,
    /// Requests answered with an error.
    pub refused: u64,
}

/// Serves until `shutdown` resolves, then stops accepting and waits for the
/// connections it has to finish. Each connection's answers come in request order.
pub async fn serve(
    wal: Arc<Wal>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> io::Result<ServeReport> {
    let mut tasks = tokio::task::JoinSet::new();
    let mut report = ServeReport::default();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = accepted?;
                stream.set_nodelay(true)?;
                report.connections += 1;
                tasks.spawn(connection(Arc::clone(&wal), stream));
            }
            () = &mut shutdown => break,
        }
    }
    while let Some(done) = tasks.join_next().await {
        let (acked, refused) = done.map_err(io::Error::other)??;
        report.acknowledged += acked;
        report.refused += refused;
    }
    Ok(report)
}

/// One connection: read a request, append it, answer once it is durable.
async fn connection(wal: Arc<Wal>, stream: TcpStream) -> io::Result<(u64, u64)> {
    let (read, write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut write = BufWriter::new(write);
    let (mut acked, mut refused) = (0u64, 0u64);
    let mut payload = Vec::new();
    loop {
        let len = match read.read_u32_le().await {
            Ok(len) => len,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok((acked, refused)),
            Err(e) => return Err(e),
        };
        if len > REQUEST_BYTES_MAX {
            answer_error(&mut write, &format!("request of {len} bytes is too large")).await?;
            return Ok((acked, refused + 1));
        }
        payload.resize(len as usize, 0);
        read.read_exact(&mut payload).await?;
        let outcome = async {
            let lsn = wal.append_async(&payload).await?;
            wal.durable(lsn).await?;
            Ok::<Lsn, ringwal::Error>(lsn)
        }
        .await;
        match outcome {
            Ok(lsn) => {
                write.write_u8(0).await?;
                write.write_u64_le(lsn.get()).await?;
                acked += 1;
            }
            Err(e) => {
                answer_error(&mut write, &e.to_string()).await?;
                refused += 1;
            }
        }
        write.flush().await?;
    }
}

async fn answer_error<W: AsyncWriteExt + Unpin>(write: &mut W, message: &str) -> io::Result<()> {
    write.write_u8(1).await?;
    let bytes = message.as_bytes();
    write.write_u32_le(bytes.len() as u32).await?;
    write.write_all(bytes).await?;
    write.flush().await
}

/// What the follower saw.
#[derive(Debug, Default, Clone)]
pub struct FollowReport {
    /// Records followed.
    pub records: u64,
    /// The last LSN followed.
    pub last: u64,
    /// Payload bytes followed.
    pub bytes: u64,
}

/// Follows `tail` until it has seen `until` (inclusive) or the log closes, calling
/// `each` with every record. Yields to the executor while it waits.
pub async fn follow(
    mut tail: Tail,
    until: Option<Lsn>,
    mut each: impl FnMut(&ringwal::Record),
) -> ringwal::Result<FollowReport> {
    let mut report = FollowReport::default();
    loop {
        if until.is_some_and(|u| report.last >= u.get()) {
            return Ok(report);
        }
        let next =
            std::future::poll_fn(|cx| futures_core::Stream::poll_next(Pin::new(&mut tail), cx))
                .await;
        let Some(record) = next else {
            return Ok(report);
        };
        let record = record?;
        each(&record);
        report.records += 1;
        report.last = record.lsn().get();
        report.bytes += record.payload().len() as u64;
    }
}

/// What the load generator measured.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// Requests acknowledged.
    pub acknowledged: u64,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
    /// Request latency (send to durable answer), microseconds.
    pub latency_us: Histogram<u64>,
    /// Every (LSN, payload) acknowledged, when asked to keep them.
    pub kept: Vec<(u64, Vec<u8>)>,
}

impl LoadReport {
    /// Acknowledged requests per second.
    pub fn per_second(&self) -> f64 {
        self.acknowledged as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Runs `connections` clients against `addr`, each sending `requests` payloads of
/// `payload_bytes` one after another. With `keep`, returns every acknowledged
/// (LSN, payload) so a test can check them against the log.
pub async fn load(
    addr: SocketAddr,
    connections: u32,
    requests: u64,
    payload_bytes: usize,
    keep: bool,
) -> io::Result<LoadReport> {
    let started = Instant::now();
    let mut clients = tokio::task::JoinSet::new();
    for client in 0..connections {
        clients.spawn(run_client(addr, client, requests, payload_bytes, keep));
    }
    let mut latency_us = new_histogram()?;
    let mut acknowledged = 0;
    let mut kept = Vec::new();
    while let Some(done) = clients.join_next().await {
        let (hist, acked, acks) = done.map_err(io::Error::other)??;
        latency_us.add(&hist).map_err(io::Error::other)?;
        acknowledged += acked;
        kept.extend(acks);
    }
    Ok(LoadReport {
        acknowledged,
        elapsed: started.elapsed(),
        latency_us,
        kept,
    })
}

fn new_histogram() -> io::Result<Histogram<u64>> {
    Histogram::new(3).map_err(io::Error::other)
}

/// A client's latencies, acknowledged count, and the acknowledgements it kept.
type ClientResult = io::Result<(Histogram<u64>, u64, Vec<(u64, Vec<u8>)>)>;

async fn run_client(
    addr: SocketAddr,
    client: u32,
    requests: u64,
    payload_bytes: usize,
    keep: bool,
) -> ClientResult {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (read, write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut write = BufWriter::new(write);
    let mut hist = new_histogram()?;
    let mut acks = Vec::new();
    let mut acked = 0;
    for n in 0..requests {
        let payload = payload_for(client, n, payload_bytes);
        let sent = Instant::now();
        write.write_u32_le(payload.len() as u32).await?;
        write.write_all(&payload).await?;
        write.flush().await?;
        match read.read_u8().await? {
            0 => {
                let lsn = read.read_u64_le().await?;
                hist.record(sent.elapsed().as_micros().max(1) as u64)
                    .map_err(io::Error::other)?;
                acked += 1;
                if keep {
                    acks.push((lsn, payload));
                }
            }
            _ => {
                let len = read.read_u32_le().await?;
                let mut message = vec![0u8; len.min(REQUEST_BYTES_MAX) as usize];
                read.read_exact(&mut message).await?;
                return Err(io::Error::other(
                    String::from_utf8_lossy(&message).into_owned(),
                ));
            }
        }
    }
    Ok((hist, acked, acks))
}

/// The payload client `client` sends as its `n`th request: recognisable, `bytes` long
/// (at least 12).
pub fn payload_for(client: u32, n: u64, bytes: usize) -> Vec<u8> {
    let mut p = Vec::with_capacity(bytes.max(12));
    p.extend_from_slice(&client.to_le_bytes());
    p.extend_from_slice(&n.to_le_bytes());
    p.resize(bytes.max(12), (client as u8) ^ (n as u8));
    p
}
