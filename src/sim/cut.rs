//! What a power cut keeps of one file's unsynced changes.
//!
//! Nothing orders unsynced data on its way to the disk: the kernel splits a write into
//! pages, writeback flushes dirty pages in any order, and a disk persists the sectors
//! of one request in any order. The model therefore cuts the file into units (512-byte
//! sectors or 4 KiB pages, aligned to the file offset, chosen per file and per cut) and
//! lets every unit land on its own: unit `u` holds the durable bytes plus the first
//! `times[u]` unsynced changes, restricted to `u` — the unit's content as it stood in
//! the page cache at some moment, which is what a writeback of that unit persists. So
//! any subset of the pieces of the unsynced writes survives, in any order across units;
//! within one unit an older write never lands over a newer one (a page is written back
//! whole, with everything written into it so far, and the kernel never has two
//! writebacks of one page in flight).
//!
//! The length is metadata, which filesystems journal in order: it is the length after
//! the first `size_time` changes (writes that extend the file count), whatever the
//! units hold. Bytes kept past that length are cut; a unit inside it that kept nothing
//! reads as its durable bytes, or zeros past the durable length. A shrink among the
//! first `size_time` changes discards what lay past it in every unit (its blocks are
//! freed), in order with the writes that unit kept.

/// A sector: the smallest unit a disk persists on its own.
pub(super) const SECTOR_BYTES: u64 = 512;
/// A page: the unit the kernel writes back.
pub(super) const PAGE_BYTES: u64 = 4096;

/// One unsynced change to a file, in the order it was made.
#[derive(Debug)]
pub(super) enum Pending {
    Write { at: u64, bytes: Vec<u8> },
    Len(u64),
}

/// What a cut did to one file, for [`super::SimCounts`].
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Outcome {
    pub writes_kept: u64,
    pub writes_torn: u64,
    pub writes_lost: u64,
    pub pieces_kept: u64,
    pub pieces_lost: u64,
    /// The file had two unsynced pieces or more: a reordering could show.
    pub several_pieces: bool,
    /// A piece survived while an earlier one (an earlier write's, or an earlier unit
    /// of the same write) was lost.
    pub reordered: bool,
}

/// Which of the unsynced changes reach each unit, and the length that survives.
#[derive(Debug)]
struct Plan {
    unit: u64,
    /// Per unit (index = offset / unit): how many of the changes, oldest first, it got.
    times: Vec<usize>,
    /// How many changes the surviving length reflects.
    size_time: usize,
    /// The surviving length (the length after `size_time` changes, or a torn write's
    /// end in the old prefix shape).
    len: u64,
}

/// Lengths after 0, 1, …, n changes.
fn sizes(durable_len: u64, pending: &[Pending]) -> Vec<u64> {
    let mut out = Vec::with_capacity(pending.len() + 1);
    let mut len = durable_len;
    out.push(len);
    for change in pending {
        len = match change {
            Pending::Write { at, bytes } if !bytes.is_empty() => len.max(at + bytes.len() as u64),
            Pending::Write { .. } => len,
            Pending::Len(l) => *l,
        };
        out.push(len);
    }
    out
}

/// What every plan of one cut is drawn over: the unit, how many units the file spans
/// at its longest, and its length after 0, 1, …, n changes.
struct Grid {
    unit: u64,
    units: usize,
    sizes: Vec<u64>,
}

impl Grid {
    /// Every unit at `time`, the length after `time` changes.
    fn uniform(&self, time: usize) -> Plan {
        Plan {
            unit: self.unit,
            times: vec![time; self.units],
            size_time: time,
            len: self.sizes.get(time).copied().unwrap_or_default(),
        }
    }

    /// The first `t` changes whole; half the time the write after them kept up to a
    /// unit boundary past its first unit, the file as long as that.
    fn prefix(&self, rng: &mut fastrand::Rng, pending: &[Pending]) -> Plan {
        let unit = self.unit;
        let t = rng.usize(..=pending.len());
        let mut plan = self.uniform(t);
        let Some(Pending::Write { at, bytes }) = pending.get(t) else {
            return plan;
        };
        let end = at + bytes.len() as u64;
        let first = (at / unit + 1) * unit;
        if first >= end || rng.bool() {
            return plan;
        }
        let cut = first + rng.u64(..(end - first).div_ceil(unit)) * unit;
        let whole = (cut / unit) as usize;
        for time in plan.times.iter_mut().take(whole) {
            *time = t + 1;
        }
        plan.len = plan.len.max(cut);
        plan
    }

    /// Everything from one of the units the writes touched on (not the first), the
    /// units before it each at an earlier moment.
    fn suffix(&self, rng: &mut fastrand::Rng, pending: &[Pending]) -> Plan {
        let (unit, n) = (self.unit, pending.len());
        let mut touched: Vec<u64> = pending
            .iter()
            .filter_map(|change| match change {
                Pending::Write { at, bytes } => {
                    Some(*at / unit..(at + bytes.len() as u64).div_ceil(unit))
                }
                Pending::Len(_) => None,
            })
            .flatten()
            .collect();
        touched.sort_unstable();
        touched.dedup();
        let mut plan = self.uniform(n);
        if let Some(&from) = touched.get(rng.usize(1..touched.len().max(2))) {
            for time in plan.times.iter_mut().take(from as usize) {
                *time = rng.usize(..n);
            }
        }
        plan
    }

    /// Every unit at its own moment: up to date with probability `fresh` (a quarter,
    /// a half or three quarters, per cut), else at a uniformly chosen earlier moment
    /// (a lost piece). The length is the final one three times in four, else the
    /// length at a random moment.
    fn scattered(&self, rng: &mut fastrand::Rng) -> Plan {
        let n = self.sizes.len() - 1;
        let fresh = rng.u8(1..=3);
        let times = (0..self.units)
            .map(|_| {
                if rng.u8(..4) < fresh {
                    n
                } else {
                    rng.usize(..n)
                }
            })
            .collect();
        let size_time = if rng.u8(..4) > 0 { n } else { rng.usize(..=n) };
        Plan {
            unit: self.unit,
            times,
            size_time,
            len: self.sizes.get(size_time).copied().unwrap_or_default(),
        }
    }
}

impl Plan {
    /// The seeded choice. Probability mass: nothing kept 1/8, everything 1/8, an
    /// in-order prefix (its next write possibly torn at a unit boundary, as the
    /// simulator modelled before reordering) 1/4, every unit on its own 3/8, and the
    /// later units kept while earlier ones are not 1/8 (the state an appending log
    /// sees as a hole with valid frames after it).
    fn choose(rng: &mut fastrand::Rng, durable_len: u64, pending: &[Pending]) -> Plan {
        let n = pending.len();
        let sizes = sizes(durable_len, pending);
        let unit = if rng.bool() { SECTOR_BYTES } else { PAGE_BYTES };
        let top = sizes.iter().copied().max().unwrap_or_default();
        let grid = Grid {
            unit,
            units: top.div_ceil(unit) as usize,
            sizes,
        };
        match rng.u8(..8) {
            0 => grid.uniform(0),
            1 => grid.uniform(n),
            2 | 3 => grid.prefix(rng, pending),
            4 => grid.suffix(rng, pending),
            _ => grid.scattered(rng),
        }
    }

    fn time_of(&self, unit_index: u64) -> usize {
        self.times
            .get(unit_index as usize)
            .copied()
            .unwrap_or_default()
    }
}

/// The file a cut leaves: `durable` plus what `rng` lets survive of `pending`.
pub(super) fn survivor(
    rng: &mut fastrand::Rng,
    durable: Vec<u8>,
    pending: &[Pending],
) -> (Vec<u8>, Outcome) {
    if pending.is_empty() {
        return (durable, Outcome::default());
    }
    let plan = Plan::choose(rng, durable.len() as u64, pending);
    apply_plan(&plan, durable, pending)
}

/// Applies the changes in order, each write only to the units whose moment comes
/// after it, each length change only if the surviving length reflects it.
fn apply_plan(plan: &Plan, mut data: Vec<u8>, pending: &[Pending]) -> (Vec<u8>, Outcome) {
    let mut out = Outcome::default();
    // Whether a piece of an earlier write, or an earlier unit of this one, was lost.
    let mut lost_before = false;
    for (i, change) in pending.iter().enumerate() {
        match change {
            Pending::Len(len) => {
                if i < plan.size_time {
                    data.truncate(*len as usize);
                }
            }
            Pending::Write { at, bytes } => {
                let (kept, lost) = write_units(plan, i, &mut data, *at, bytes, &mut lost_before);
                out.pieces_kept += kept.count;
                out.pieces_lost += lost;
                out.reordered |= kept.after_a_loss;
                match (kept.count, lost) {
                    (_, 0) => out.writes_kept += 1,
                    (0, _) => out.writes_lost += 1,
                    _ => out.writes_torn += 1,
                }
            }
        }
    }
    data.resize(plan.len as usize, 0);
    out.several_pieces = out.pieces_kept + out.pieces_lost >= 2;
    (data, out)
}

/// The pieces of one write that reached the disk.
#[derive(Debug, Default)]
struct Kept {
    count: u64,
    /// One of them came after a lost piece (`lost_before` was set when it was kept).
    after_a_loss: bool,
}

/// Writes the pieces of change `i` that reach their units, in offset order; returns
/// the pieces kept and the number lost (a piece past the surviving length is lost).
fn write_units(
    plan: &Plan,
    i: usize,
    data: &mut Vec<u8>,
    at: u64,
    bytes: &[u8],
    lost_before: &mut bool,
) -> (Kept, u64) {
    let end = at + bytes.len() as u64;
    let mut kept = Kept::default();
    let mut lost = 0;
    let mut from = at;
    while from < end {
        let index = from / plan.unit;
        let to = ((index + 1) * plan.unit).min(end);
        if i < plan.time_of(index) && from < plan.len {
            let piece = bytes
                .get((from - at) as usize..(to - at) as usize)
                .unwrap_or_default();
            write_into(data, from, piece);
            kept.count += 1;
            kept.after_a_loss |= *lost_before;
        } else {
            lost += 1;
            *lost_before = true;
        }
        from = to;
    }
    (kept, lost)
}

/// Copies `bytes` to `at`, growing `data` with zeros if it is shorter.
pub(super) fn write_into(data: &mut Vec<u8>, at: u64, bytes: &[u8]) {
    let at = at as usize;
    let end = at + bytes.len();
    if data.len() < end {
        data.resize(end, 0);
    }
    if let Some(dst) = data.get_mut(at..end) {
        dst.copy_from_slice(bytes);
    }
}

/// Applies one change to an image (a sync, or the live image).
pub(super) fn apply(data: &mut Vec<u8>, change: &Pending) {
    match change {
        Pending::Write { at, bytes } => write_into(data, *at, bytes),
        Pending::Len(len) => data.resize(*len as usize, 0),
    }
}
