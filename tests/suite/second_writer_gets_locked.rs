//! One writer per log directory: a second `Wal::open` — from the same process or from
//! another one — gets `Error::Locked` naming the holder's pid, and changes nothing; once
//! the holder closes (or exits), opening works and sees the holder's records.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::Stdio;

use ringwal::{Error, LogReader, Lsn, Wal};

use crate::common::{
    child_command, driver_from_name, driver_name, drivers, eventually, payload, small, temp_log,
};
use crate::disk::{segment_path, snapshot};

const CHILD_DIR: &str = "RINGWAL_LOCK_CHILD_DIR";
const CHILD_DRIVER: &str = "RINGWAL_LOCK_CHILD_DRIVER";
const CHILD_TEST: &str = "second_writer_gets_locked::child_holds_the_log_until_stdin_closes";

fn assert_locked_by(result: Result<Wal, Error>, pid: u32) {
    match result {
        Err(Error::Locked { path, holder }) => {
            assert_eq!(path.file_name().and_then(|n| n.to_str()), Some("LOCK"));
            let holder = holder.expect("the lock file should name its holder");
            let named = holder
                .split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u32>().ok());
            assert_eq!(named, Some(pid), "holder {holder:?} should name pid {pid}");
            assert!(holder.starts_with("pid "), "holder {holder:?}");
        }
        Err(e) => panic!("second open gave {e}, not Locked"),
        Ok(_) => panic!("a second writer opened a locked log"),
    }
}

#[test]
fn a_second_open_in_the_same_process_is_locked_out() {
    for driver in drivers() {
        let log = temp_log();
        let first = Wal::open(&log.dir, small(driver)).unwrap();
        first.append_durable(&payload(1)).unwrap();
        // Let the holder's background preparation of its next segment finish, so the
        // snapshot below only changes if the refused open changes something.
        let spare = segment_path(&log.dir, 2);
        eventually("the spare segment is ready", || {
            spare.exists() && !log.dir.join("00000000000000000002.wal.tmp").exists()
        });
        let before = snapshot(&log.dir);
        assert_locked_by(Wal::open(&log.dir, small(driver)), std::process::id());
        assert!(
            before == snapshot(&log.dir),
            "the refused open changed the files"
        );
        assert!(LogReader::open(&log.dir).unwrap().writer_active());
        // The refused open did not disturb the holder.
        assert_eq!(first.append_durable(&payload(2)).unwrap(), Lsn::from(2));
        first.close().unwrap();

        assert!(!LogReader::open(&log.dir).unwrap().writer_active());
        let second = Wal::open(&log.dir, small(driver)).unwrap();
        assert_eq!(second.last_lsn(), Lsn::from(2));
        second.close().unwrap();
    }
}

/// The child: opens the log, appends one record, says `HOLDING`, and keeps the log open
/// until its stdin closes. Does nothing unless run by the parent test.
#[test]
fn child_holds_the_log_until_stdin_closes() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    let driver = driver_from_name(&std::env::var(CHILD_DRIVER).unwrap_or_default());
    let wal = Wal::open(&dir, small(driver)).unwrap();
    wal.append_durable(&payload(1)).unwrap();
    let mut out = std::io::stdout().lock();
    out.write_all(b"HOLDING\n").unwrap();
    out.flush().unwrap();
    let mut rest = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut rest);
    wal.close().unwrap();
}

#[test]
fn a_second_open_from_another_process_is_locked_out() {
    for driver in drivers() {
        let log = temp_log();
        let mut child = child_command(CHILD_TEST)
            .env(CHILD_DIR, &log.dir)
            .env(CHILD_DRIVER, driver_name(driver))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // libtest may print `test <name> ... ` on the same line, just before it.
        let holding = lines
            .by_ref()
            .map(|l| l.unwrap())
            .any(|l| l.ends_with("HOLDING"));
        if !holding {
            panic!("the child never took the log: {:?}", child.wait());
        }
        assert_locked_by(Wal::open(&log.dir, small(driver)), child.id());
        assert!(LogReader::open(&log.dir).unwrap().writer_active());

        drop(child.stdin.take()); // the child closes the log and exits
        let status = child.wait().unwrap();
        assert!(status.success(), "child: {status}");
        let wal = Wal::open(&log.dir, small(driver)).unwrap();
        assert_eq!(wal.last_lsn(), Lsn::from(1));
        wal.close().unwrap();
    }
}
