//! The unsynced append path: frame + checksum on the caller's thread, reservation and
//! copy into staging, with the writer draining to the page cache behind it.
//! Target (issue 2): <= 150 ns per 128-byte record on one thread.

#![allow(clippy::panic, reason = "a benchmark aborts on any failure")]
use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ringwal::{Durability, Options, Wal};

fn unsynced_append(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let options = Options::default()
        .durability(Durability::Flush)
        .segment_bytes(256 << 20)
        .staging_bytes_max(16 << 20);
    let wal = Wal::open(tmp.path().join("wal"), options).unwrap_or_else(|e| panic!("open: {e}"));
    let mut group = c.benchmark_group("append_unsynced");
    for size in [128usize, 1024] {
        let payload = vec![0x5Au8; size];
        group.throughput(Throughput::Elements(1));
        // Time appends in chunks that fit in staging, then (untimed) let the writer
        // drain: this measures the caller's cost, not the page cache's write rate
        // (about 0.45 GB/s in this VM, which would otherwise throttle the appender).
        let chunk = (12 << 20) / ringwal::limits::frame_bytes(size as u64);
        group.bench_function(format!("{size}B"), |b| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let n = left.min(chunk);
                    let start = std::time::Instant::now();
                    let mut last = ringwal::Lsn::ZERO;
                    for _ in 0..n {
                        last = wal
                            .append(black_box(&payload))
                            .unwrap_or_else(|e| panic!("append: {e}"));
                    }
                    spent += start.elapsed();
                    wal.wait_durable(last)
                        .unwrap_or_else(|e| panic!("wait: {e}"));
                    left -= n;
                }
                spent
            })
        });
    }
    group.finish();
    let mut group = c.benchmark_group("frame_encode");
    for size in [128usize, 4096, 65536] {
        let payload = vec![0x5Au8; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(format!("{size}B"), |b| {
            b.iter_batched_ref(
                || Vec::with_capacity(size + 64),
                |out| {
                    out.clear();
                    let spec = ringwal::format::frame::FrameSpec {
                        lsn: 42,
                        durable: 41,
                        sequence: 7,
                        payload: &payload,
                        payload_crc: ringwal::format::frame::payload_crc(&payload),
                        batch_continues: false,
                    };
                    ringwal::format::frame::encode_into(black_box(&spec), out);
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
    wal.close().unwrap_or_else(|e| panic!("close: {e}"));
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = unsynced_append
}
criterion_main!(benches);
