//! A failed fsync (EIO), a failed write (EIO) and a full disk (ENOSPC) coming from the
//! filesystem poison the log with `Error::Poisoned`; nothing is acknowledged after the
//! fault; after a power cut (which drops what the failed sync did not make durable) and
//! a remount, every acknowledged record is there and appends go on.

use ringwal::{Error, Wal};

use crate::common::{Place, check_log, drivers, payload, seed, skip, skip_reason, small};

const BEFORE: u64 = 40;

#[derive(Debug, Clone, Copy)]
enum Fault {
    FsyncEio,
    WriteEio,
    Full,
}

#[test]
fn injected_faults_poison_and_lose_nothing() {
    if let Some(reason) = skip_reason() {
        skip(&reason);
        return;
    }
    let cut_seed = seed("injected_faults_poison_and_lose_nothing");
    for driver in drivers() {
        for fault in [Fault::FsyncEio, Fault::WriteEio, Fault::Full] {
            let place = Place::new();
            let mounted = place.mount();
            let wal = Wal::open(place.wal_dir(), small(driver)).unwrap();
            let mut acked = Vec::new();
            for n in 0..BEFORE {
                let p = payload(0, n);
                acked.push((wal.append_durable(&p).unwrap().get(), p));
            }
            let control = mounted.control();
            match fault {
                Fault::FsyncEio => control.fail_next_fsync(libc::EIO),
                Fault::WriteEio => control.fail_next_write(libc::EIO),
                Fault::Full => control.set_full(true),
            }
            let err = wal.append_durable(&payload(0, BEFORE)).unwrap_err();
            assert!(
                matches!(err, Error::Poisoned { .. }),
                "{driver:?} {fault:?}: expected Poisoned, got {err}"
            );
            if let Fault::Full = fault {
                assert_eq!(
                    err.io_kind(),
                    Some(std::io::ErrorKind::StorageFull),
                    "{err}"
                );
            }
            let again = wal.append_durable(&payload(0, BEFORE + 1)).unwrap_err();
            assert!(matches!(again, Error::Poisoned { .. }), "{again}");
            assert!(wal.close().is_err(), "close of a poisoned log");
            let faults = control.counters().faults;
            match fault {
                // A full disk stays full: segment preparation in the background may
                // also be refused.
                Fault::Full => assert!(faults >= 1, "no ENOSPC was returned"),
                _ => assert_eq!(faults, 1, "exactly one fault returned"),
            }
            control.cut_power(cut_seed).unwrap();
            mounted.unmount().unwrap();

            let _again = place.mount();
            let (last, _) = check_log(&place.wal_dir(), small(driver), &acked, 0);
            assert!(
                last <= BEFORE + 1,
                "{driver:?} {fault:?}: {last} records after a poison at {}",
                BEFORE + 1
            );
            eprintln!("{driver:?} {fault:?}: poisoned ({err}); {last} recovered");
        }
    }
}
