//! A real full filesystem: a small ext4 image, loop-mounted, filled by the log until
//! the kernel answers ENOSPC. The log poisons with a typed error (`Error::Poisoned`
//! whose cause is a `StorageFull` I/O error), and once space is freed (a filler file
//! made before the log is deleted) and the filesystem remounted, a reopen recovers
//! every acknowledged record with its payload, LSNs dense, and appends go on.
//!
//! Two ways to fill the disk: pre-zeroed segments (`Preallocate::Zeroed`) run out of
//! space while the next segment is prepared; growing segments (`Preallocate::Grow`)
//! run out inside a record write itself.
//!
//! Needs root, `mkfs.ext4`, `mount` and a loop device; anything missing prints
//! "skipping: ..." and the test returns.

use std::path::{Path, PathBuf};
use std::process::Command;

use ringwal::{Driver, Error, Lsn, Options, Preallocate, Wal};

use crate::common::{drivers, skip, within_a_minute};

/// Image size: small enough to fill in well under a second of durable appends.
const IMAGE_BYTES: u64 = 32 << 20;
/// Free space left once the filler is written; the log fills this.
const FREE_BYTES_LEFT: u64 = 6 << 20;
const SEGMENT_BYTES: u64 = 1 << 20;
const RECORD_BYTES: usize = 3000;
/// More than the free space can hold: reaching it means ENOSPC never came.
const APPENDS_MAX: u64 = 2 * FREE_BYTES_LEFT / RECORD_BYTES as u64 + 1_000;
/// Appends made after the reopen.
const APPENDS_AFTER: u64 = 50;

/// The payload for `lsn`: recognisable and a few KiB, so the disk fills quickly.
fn big_payload(lsn: u64) -> Vec<u8> {
    let mut p = format!("enospc-{lsn}:").into_bytes();
    let fill = RECORD_BYTES - p.len() - (lsn % 64) as usize;
    p.extend((0..fill).map(|i| (i as u64).wrapping_mul(lsn | 1) as u8));
    p
}

fn options(driver: Driver, how: Preallocate) -> Options {
    Options::default()
        .driver(driver)
        .segment_bytes(SEGMENT_BYTES)
        .record_bytes_max(8 << 10)
        .staging_bytes_max(256 << 10)
        .preallocate(how)
}

/// Runs a command; `Err` carries a one-line reason to skip with.
fn run(program: &str, args: &[&std::ffi::OsStr]) -> Result<(), String> {
    match Command::new(program).args(args).output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(format!(
            "`{program}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Err(format!("cannot run `{program}`: {e}")),
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}

/// A loop-mounted ext4 image; unmounted (and its directory removed) on drop, also
/// when the test panics.
struct MountedImage {
    _tmp: tempfile::TempDir,
    image: PathBuf,
    mnt: PathBuf,
    mounted: bool,
}

impl MountedImage {
    fn create() -> Result<MountedImage, String> {
        let tmp = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
        let image = tmp.path().join("ext4.img");
        let mnt = tmp.path().join("mnt");
        std::fs::create_dir(&mnt).map_err(|e| format!("mkdir: {e}"))?;
        std::fs::File::create(&image)
            .and_then(|f| f.set_len(IMAGE_BYTES))
            .map_err(|e| format!("image file: {e}"))?;
        run(
            "mkfs.ext4",
            &["-q".as_ref(), "-F".as_ref(), image.as_os_str()],
        )?;
        let mut m = MountedImage {
            _tmp: tmp,
            image,
            mnt,
            mounted: false,
        };
        m.mount()?;
        Ok(m)
    }

    fn mount(&mut self) -> Result<(), String> {
        run(
            "mount",
            &[
                "-o".as_ref(),
                "loop".as_ref(),
                self.image.as_os_str(),
                self.mnt.as_os_str(),
            ],
        )?;
        self.mounted = true;
        Ok(())
    }

    /// Unmounts, retrying while the filesystem is busy: the kernel releases an
    /// io_uring's registered files after the ring's descriptor is closed, in a work
    /// item of its own, so an unmount right after `close` can find them still open.
    fn try_unmount(&mut self) -> Result<(), String> {
        if !self.mounted {
            return Ok(());
        }
        let started = std::time::Instant::now();
        loop {
            match run("umount", &[self.mnt.as_os_str()]) {
                Ok(()) => break,
                Err(e) if started.elapsed() > std::time::Duration::from_secs(10) => return Err(e),
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
            }
        }
        if started.elapsed() > std::time::Duration::from_millis(100) {
            eprintln!("  (unmount waited {:?} for busy files)", started.elapsed());
        }
        self.mounted = false;
        Ok(())
    }

    /// Unmounts before a remount: a lazy unmount would leave the old filesystem
    /// instance alive beside the new one, so failing is the only safe answer.
    fn unmount(&mut self) {
        if let Err(e) = self.try_unmount() {
            panic!("cannot unmount {}: {e}", self.mnt.display());
        }
    }

    fn path(&self) -> &Path {
        &self.mnt
    }
}

impl Drop for MountedImage {
    fn drop(&mut self) {
        // The temporary directory is removed after this, by its own drop.
        if let Err(e) = self.try_unmount() {
            eprintln!("umount {}: {e}; unmounting lazily", self.mnt.display());
            let _ = run("umount", &["-l".as_ref(), self.mnt.as_os_str()]);
        }
    }
}

/// Bytes root may still write on the filesystem at `path`.
fn free_bytes(path: &Path) -> u64 {
    let st = rustix::fs::statvfs(path).unwrap();
    st.f_bfree * st.f_frsize
}

/// Writes a file that leaves about `FREE_BYTES_LEFT` free, and syncs it.
fn write_filler(path: &Path) {
    use std::io::Write;
    let free = free_bytes(path.parent().unwrap());
    let mut left = free.saturating_sub(FREE_BYTES_LEFT);
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0xa5u8; 1 << 20];
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        f.write_all(&chunk[..n]).unwrap();
        left -= n as u64;
    }
    f.sync_all().unwrap();
}

/// Appends durably until an error; returns the last acknowledged LSN. The error must be
/// the poison of a full disk.
fn fill_until_enospc(dir: PathBuf, opts: Options) -> u64 {
    within_a_minute("appending into a full ext4", move || {
        let wal = Wal::open(&dir, opts).unwrap();
        let mut acked = 0;
        for lsn in 1..=APPENDS_MAX {
            match wal.append_durable(&big_payload(lsn)) {
                Ok(got) => {
                    assert_eq!(got, Lsn::from(lsn), "LSNs are handed out densely");
                    acked = lsn;
                }
                Err(e) => {
                    assert!(
                        matches!(e, Error::Poisoned { .. }),
                        "expected Error::Poisoned, got {e}"
                    );
                    assert_eq!(
                        e.io_kind(),
                        Some(std::io::ErrorKind::StorageFull),
                        "the poison's cause: {e}"
                    );
                    eprintln!("  ENOSPC after {acked} acknowledged records: {e}");
                    // Every later call reports the same poison.
                    assert!(matches!(
                        wal.append(b"after the poison"),
                        Err(Error::Poisoned { .. })
                    ));
                    assert!(wal.close().is_err(), "close of a poisoned log");
                    return acked;
                }
            }
        }
        panic!("the disk never filled ({APPENDS_MAX} records acknowledged)");
    })
}

/// Reopens, checks records 1..=last are dense with their payloads and that at least
/// `acked` are there; returns the last LSN.
fn check_recovered(dir: &Path, opts: Options, acked: u64) -> u64 {
    let wal = Wal::open(dir, opts).unwrap();
    let mut expected = 1u64;
    for record in wal.read_from(Lsn::from(1)).unwrap() {
        let record = record.unwrap();
        assert_eq!(record.lsn().get(), expected, "LSNs must be dense");
        assert_eq!(
            record.payload(),
            big_payload(expected).as_slice(),
            "payload of LSN {expected}"
        );
        expected += 1;
    }
    let last = expected - 1;
    assert!(
        last >= acked,
        "acknowledged LSN {acked} lost: the log ends at {last}"
    );
    wal.close().unwrap();
    last
}

fn full_disk_case(driver: Driver, how: Preallocate) -> Result<(), String> {
    let mut img = MountedImage::create()?;
    let dir = img.path().join("wal");
    let filler = img.path().join("filler");
    write_filler(&filler);
    let opts = options(driver, how);

    let acked = fill_until_enospc(dir.clone(), opts.clone());
    assert!(acked > 0, "nothing fitted before ENOSPC");

    // Space back, and a remount so what is read comes from the disk, not the cache.
    std::fs::remove_file(&filler).unwrap();
    img.unmount();
    img.mount().unwrap();

    let last = check_recovered(&dir, opts.clone(), acked);
    eprintln!(
        "  {acked} acknowledged, {last} recovered ({:?}, {how:?})",
        driver
    );
    let wal = Wal::open(&dir, opts.clone()).unwrap();
    for lsn in last + 1..=last + APPENDS_AFTER {
        assert_eq!(
            wal.append_durable(&big_payload(lsn)).unwrap(),
            Lsn::from(lsn)
        );
    }
    wal.close().unwrap();
    img.unmount();
    img.mount().unwrap();
    assert_eq!(check_recovered(&dir, opts, acked), last + APPENDS_AFTER);
    Ok(())
}

#[test]
fn enospc_on_a_full_ext4_loses_nothing() {
    if !is_root() {
        skip("mounting an ext4 image needs root");
        return;
    }
    for driver in drivers() {
        for how in [Preallocate::Zeroed, Preallocate::Grow] {
            eprintln!("full ext4: {driver:?}, {how:?}");
            if let Err(reason) = full_disk_case(driver, how) {
                skip(&reason);
                return;
            }
        }
    }
}
