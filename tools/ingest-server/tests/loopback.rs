//! The example server, its follower and the load generator, run in-process on
//! loopback with bounded request counts: every acknowledged request is in the log with
//! its payload at its LSN after a reopen, and the follower saw every record in order.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ringwal::{Lsn, Options, Wal};
use ringwal_ingest_server::{follow, load, serve};

#[test]
fn server_follower_and_load_on_loopback() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wal");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (connections, requests) = (16u32, 200u64);
    let total = u64::from(connections) * requests;
    let opts = Options::default()
        .segment_bytes(256 << 10)
        .record_bytes_max(64 << 10);
    let seen = Arc::new(Mutex::new(HashMap::new()));
    let (report, served, followed) = rt.block_on(async {
        let wal = Arc::new(Wal::open(&dir, opts.clone()).unwrap());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(Arc::clone(&wal), listener, async {
            let _ = stopped.await;
        }));
        let seen2 = Arc::clone(&seen);
        let follower = tokio::spawn(follow(
            wal.tail(Lsn::new(1)).unwrap(),
            Some(Lsn::new(total)),
            move |r| {
                seen2
                    .lock()
                    .unwrap()
                    .insert(r.lsn().get(), r.payload().to_vec());
            },
        ));
        let report = load(addr, connections, requests, 100, true).await.unwrap();
        stop.send(()).unwrap();
        let served = server.await.unwrap().unwrap();
        let followed = follower.await.unwrap().unwrap();
        wal.close().unwrap();
        (report, served, followed)
    });
    assert_eq!(report.acknowledged, total);
    assert_eq!(served.acknowledged, total);
    assert_eq!(served.connections, u64::from(connections));
    assert_eq!((followed.records, followed.last), (total, total));
    let seen = seen.lock().unwrap();
    let wal = Wal::open(&dir, opts).unwrap();
    let log: HashMap<u64, Vec<u8>> = wal
        .read_from(Lsn::new(1))
        .unwrap()
        .map(|r| r.map(|r| (r.lsn().get(), r.payload().to_vec())))
        .collect::<Result<_, _>>()
        .unwrap();
    for (lsn, payload) in &report.kept {
        assert_eq!(
            log.get(lsn),
            Some(payload),
            "acknowledged LSN {lsn} not in the log"
        );
        assert_eq!(
            seen.get(lsn),
            Some(payload),
            "the follower missed LSN {lsn}"
        );
    }
    wal.close().unwrap();
}
