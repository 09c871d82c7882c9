//! `ringwal-ingest-server`: `serve` a log over TCP (answering once durable) with a
//! follower tailing it, `load` a running server, or `demo` both in one process.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use ringwal::{Lsn, Options, Wal};
use ringwal_ingest_server::{follow, load, serve};

#[derive(Parser)]
#[command(about = "A tokio ingest server on ringwal, with a follower and a load generator")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve a log over TCP until Ctrl-C; a follower task tails it and reports.
    Serve {
        #[arg(long, default_value = "ingest-wal")]
        dir: PathBuf,
        #[arg(long, default_value = "127.0.0.1:7070")]
        addr: SocketAddr,
        /// Tokio worker threads.
        #[arg(long, default_value_t = 2)]
        workers: usize,
    },
    /// Send requests to a running server and print throughput and latency.
    Load {
        #[arg(long, default_value = "127.0.0.1:7070")]
        addr: SocketAddr,
        #[arg(long, default_value_t = 64)]
        connections: u32,
        /// Requests per connection.
        #[arg(long, default_value_t = 1000)]
        requests: u64,
        #[arg(long, default_value_t = 256)]
        payload_bytes: usize,
    },
    /// Server, follower and load generator in one process on loopback.
    Demo {
        #[arg(long, default_value = "ingest-wal-demo")]
        dir: PathBuf,
        #[arg(long, default_value_t = 64)]
        connections: u32,
        #[arg(long, default_value_t = 1000)]
        requests: u64,
        #[arg(long, default_value_t = 256)]
        payload_bytes: usize,
    },
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli::parse();
    let workers = match &cli.command {
        Command::Serve { workers, .. } => *workers,
        _ => 2,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()?;
    rt.block_on(run(cli.command))
}

async fn run(command: Command) -> Result<(), Box<dyn std::error::Error>> {
    match command {
        Command::Serve { dir, addr, .. } => {
            let wal = Arc::new(Wal::open(&dir, Options::default())?);
            let listener = tokio::net::TcpListener::bind(addr).await?;
            println!("serving {} on {addr} (Ctrl-C stops)", dir.display());
            let follower = tokio::spawn(follow(wal.tail(wal.last_lsn().next())?, None, |_| {}));
            let report = serve(Arc::clone(&wal), listener, async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
            wal.close()?;
            let followed = follower.await??;
            println!("{report:?}; follower saw {} records", followed.records);
        }
        Command::Load {
            addr,
            connections,
            requests,
            payload_bytes,
        } => {
            let report = load(addr, connections, requests, payload_bytes, false).await?;
            print_load(&report);
        }
        Command::Demo {
            dir,
            connections,
            requests,
            payload_bytes,
        } => demo(dir, connections, requests, payload_bytes).await?,
    }
    Ok(())
}

async fn demo(
    dir: PathBuf,
    connections: u32,
    requests: u64,
    payload_bytes: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let wal = Arc::new(Wal::open(&dir, Options::default())?);
    let start = wal.last_lsn();
    let total = u64::from(connections) * requests;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(Arc::clone(&wal), listener, async {
        let _ = stopped.await;
    }));
    let until = Lsn::new(start.get() + total);
    let follower = tokio::spawn(follow(wal.tail(start.next())?, Some(until), |_| {}));
    let report = load(addr, connections, requests, payload_bytes, false).await?;
    let _ = stop.send(());
    let served = server.await??;
    let followed = tokio::time::timeout(Duration::from_secs(60), follower).await???;
    print_load(&report);
    println!(
        "server: {served:?}; follower: {} records up to LSN {}",
        followed.records, followed.last
    );
    wal.close()?;
    Ok(())
}

fn print_load(report: &ringwal_ingest_server::LoadReport) {
    let h = &report.latency_us;
    println!(
        "{} durable requests in {:.2} s = {:.0}/s; latency p50 {} µs, p99 {} µs, p99.9 {} µs, max {} µs",
        report.acknowledged,
        report.elapsed.as_secs_f64(),
        report.per_second(),
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.max()
    );
}
