//! An error's `Display` leaves its cause to `source()`: a reporter that walks the chain
//! (anyhow, `Error::chain`, the CLI) used to print the OS error or the poison cause
//! twice. Checked for every variant that has a source, and on a real poisoned log.

use std::error::Error as _;
use std::io;
use std::sync::Arc;

use ringwal::testing::{FaultKind, FaultPlan};
use ringwal::{Driver, Error, IoOp, Wal};

use crate::common::{small, temp_log};

fn eio() -> io::Error {
    io::Error::from_raw_os_error(5)
}

/// Every variant that carries a source.
fn with_sources() -> Vec<Error> {
    let io = Error::Io {
        op: IoOp::Sync,
        path: "/wal/00000000000000000001.wal".into(),
        source: eio(),
    };
    let completion = Error::Completion {
        op: IoOp::Write,
        segment: 3,
        offset: 4096,
        source: eio(),
    };
    vec![
        Error::Poisoned {
            cause: Arc::new(Error::Io {
                op: IoOp::Write,
                path: "/wal/x".into(),
                source: eio(),
            }),
        },
        Error::Poisoned {
            cause: Arc::new(Error::Completion {
                op: IoOp::Sync,
                segment: 1,
                offset: 0,
                source: eio(),
            }),
        },
        io,
        completion,
    ]
}

fn assert_each_link_once(e: &Error) {
    let mut link: &dyn std::error::Error = e;
    while let Some(source) = link.source() {
        let own = link.to_string();
        let below = source.to_string();
        assert!(
            !own.contains(&below),
            "`{own}` repeats its source `{below}`"
        );
        link = source;
    }
    let chain = e.chain();
    let os = eio().to_string();
    assert_eq!(
        chain.matches(&os).count(),
        1,
        "the OS error once in the chain: {chain}"
    );
}

#[test]
fn every_variant_with_a_source_leaves_it_to_source() {
    for e in with_sources() {
        assert!(e.source().is_some(), "{e:?} has a source");
        assert_each_link_once(&e);
    }
}

#[test]
fn a_poisoned_log_reports_its_cause_once() {
    let log = temp_log();
    let plan = FaultPlan::fail_sync(1, FaultKind::Eio);
    let wal = Wal::open(&log.dir, small(Driver::Portable).inject_faults(plan)).unwrap();
    let e = wal.append_durable(b"x").unwrap_err();
    assert!(matches!(e, Error::Poisoned { .. }), "{e:?}");
    assert_each_link_once(&e);
    assert!(e.chain().contains("fdatasync"), "{}", e.chain());
    drop(wal);
}
