//! `ringwal-faultfs BACKING MOUNTPOINT`: mounts the fault filesystem and takes commands
//! on standard input, one a line: `cut [SEED [SHAPE]]` (power cut; SHAPE one of `any`,
//! `nothing`, `everything`, `in-order`, `torn-op`, `torn-seq`, `subset`), `fail-fsync`,
//! `fail-write` (the next one fails with EIO), `full on|off` (ENOSPC), `counters`,
//! `quit`.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use ringwal_faultfs::Tear;

fn tear(name: &str) -> Option<Tear> {
    Some(match name {
        "any" => Tear::Any,
        "nothing" => Tear::Nothing,
        "everything" => Tear::Everything,
        "in-order" => Tear::InOrder,
        "torn-op" => Tear::TornOp,
        "torn-seq" => Tear::TornSeq,
        "subset" => Tear::Subset,
        _ => return None,
    })
}

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [backing, mountpoint] = args.as_slice() else {
        eprintln!("usage: ringwal-faultfs BACKING MOUNTPOINT (commands on stdin)");
        return ExitCode::from(2);
    };
    let mounted = match ringwal_faultfs::mount(backing, mountpoint) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("mount {}: {e}", mountpoint.display());
            return ExitCode::FAILURE;
        }
    };
    let control = mounted.control().clone();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["cut"] | ["cut", _] | ["cut", _, _] => {
                let seed = words.get(1).and_then(|s| s.parse().ok()).unwrap_or(1);
                let Some(shape) = tear(words.get(2).copied().unwrap_or("any")) else {
                    println!("unknown shape: {line}");
                    continue;
                };
                match control.cut_power_with(seed, shape) {
                    Ok(r) => println!("power cut (seed {seed}, {shape:?}): {r:?}"),
                    Err(e) => println!("power cut failed: {e}"),
                }
            }
            ["fail-fsync"] => control.fail_next_fsync(libc::EIO),
            ["fail-write"] => control.fail_next_write(libc::EIO),
            ["full", "on"] => control.set_full(true),
            ["full", "off"] => control.set_full(false),
            ["counters"] => println!("{:?}", control.counters()),
            ["quit"] => break,
            _ => println!("unknown command: {line}"),
        }
    }
    match mounted.unmount() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("unmount: {e}");
            ExitCode::FAILURE
        }
    }
}
