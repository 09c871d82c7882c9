//! The engine's hot paths one at a time (see also benches/append.rs):
//! * `staging_reserve`: unsynced appends from 1, 2 and 4 threads at once — the cost of
//!   reserving and filling staging under contention (per record, wall time);
//! * `recovery_scan`: `LogReader::open` plus reading every record of a 64 MiB log
//!   (throughput in payload bytes: read it as MiB/s);
//! * `flush_path`: one durable 256-byte append on each driver (write + fdatasync, or
//!   the io_uring write→fsync chain), serial.

#![allow(clippy::panic, reason = "a benchmark aborts on any failure")]
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ringwal::{Driver, Durability, Lsn, Options, Wal};

fn open(dir: &Path, driver: Driver, durability: Durability) -> Result<Wal, ringwal::Error> {
    Wal::open(
        dir,
        Options::default()
            .driver(driver)
            .durability(durability)
            .segment_bytes(256 << 20)
            .staging_bytes_max(16 << 20),
    )
}

fn staging_reserve(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let wal = open(&tmp.path().join("wal"), Driver::Portable, Durability::Flush)
        .unwrap_or_else(|e| panic!("open: {e}"));
    let payload = [0x5Au8; 128];
    // Time appends in chunks that fit in staging; the writer drains between chunks,
    // untimed, so this is the callers' cost and not the page cache's write rate.
    let chunk = (12 << 20) / ringwal::limits::frame_bytes(payload.len() as u64);
    let mut group = c.benchmark_group("staging_reserve");
    group.throughput(Throughput::Elements(1));
    for threads in [1u64, 2, 4] {
        group.bench_function(format!("{threads}_threads_128B"), |b| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let n = left.min(chunk);
                    let per_thread = n.div_ceil(threads);
                    let start = Instant::now();
                    let last = std::thread::scope(|s| {
                        let handles: Vec<_> = (0..threads)
                            .map(|_| {
                                s.spawn(|| {
                                    let mut last = Lsn::ZERO;
                                    for _ in 0..per_thread {
                                        last = wal
                                            .append(black_box(&payload))
                                            .unwrap_or_else(|e| panic!("append: {e}"));
                                    }
                                    last
                                })
                            })
                            .collect();
                        handles
                            .into_iter()
                            .map(|h| h.join().unwrap_or_else(|_| panic!("appender panicked")))
                            .max()
                            .unwrap_or(Lsn::ZERO)
                    });
                    spent += start.elapsed();
                    wal.wait_durable(last)
                        .unwrap_or_else(|e| panic!("wait: {e}"));
                    left -= n.min(left);
                }
                spent
            })
        });
    }
    group.finish();
    wal.close().unwrap_or_else(|e| panic!("close: {e}"));
}

fn recovery_scan(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let dir = tmp.path().join("wal");
    let wal =
        open(&dir, Driver::Portable, Durability::Flush).unwrap_or_else(|e| panic!("open: {e}"));
    let payload = [0xA5u8; 256];
    let batch: Vec<&[u8]> = (0..4096).map(|_| payload.as_slice()).collect();
    let log_bytes: u64 = 64 << 20;
    let mut written = 0u64;
    while written < log_bytes {
        wal.append_batch(&batch)
            .unwrap_or_else(|e| panic!("append: {e}"));
        written += (batch.len() * payload.len()) as u64;
    }
    wal.sync().unwrap_or_else(|e| panic!("sync: {e}"));
    wal.close().unwrap_or_else(|e| panic!("close: {e}"));
    let mut group = c.benchmark_group("recovery_scan");
    group.throughput(Throughput::Bytes(written));
    group.sample_size(10);
    group.bench_function("64MiB_256B_records_warm", |b| {
        b.iter(|| {
            let reader = ringwal::LogReader::open(&dir).unwrap_or_else(|e| panic!("reopen: {e}"));
            let mut bytes = 0usize;
            for record in reader
                .read_from(Lsn::from(1))
                .unwrap_or_else(|e| panic!("read: {e}"))
            {
                bytes += record
                    .unwrap_or_else(|e| panic!("record: {e}"))
                    .payload()
                    .len();
            }
            black_box(bytes)
        })
    });
    group.finish();
}

fn flush_path(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let mut group = c.benchmark_group("flush_path");
    group.throughput(Throughput::Elements(1));
    let payload = [0x3Cu8; 256];
    for (name, driver) in [
        ("portable", Driver::Portable),
        ("io_uring", Driver::IoUring),
    ] {
        let wal = match open(&tmp.path().join(name), driver, Durability::Fsync) {
            Ok(wal) => wal,
            Err(e) => {
                eprintln!("flush_path/{name}: not measured ({e})");
                continue;
            }
        };
        group.bench_function(format!("{name}_durable_256B"), |b| {
            b.iter(|| {
                wal.append_durable(black_box(&payload))
                    .unwrap_or_else(|e| panic!("append: {e}"))
            })
        });
        wal.close().unwrap_or_else(|e| panic!("close: {e}"));
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = staging_reserve, recovery_scan, flush_path
}
criterion_main!(benches);
