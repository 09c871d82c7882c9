//! What a power cut leaves of one file's unsynced writes.
//!
//! Nothing orders unsynced data within a file: the kernel splits a write into pages,
//! writeback flushes dirty pages in any order, and a disk persists the sectors of one
//! request in any order. So a cut keeps the file's durable image (its content at its
//! last sync) plus ANY SUBSET of the *pieces* of the writes made since — each write
//! split at sector (512 B) or page (4 KiB) boundaries — each kept piece holding the
//! live content of its bytes (writeback writes what the page holds at the cut, not what
//! the write brought). The file's size is metadata of its own: the size changes since
//! the sync (truncates, growing writes, `fallocate`) survive together or not at all,
//! and a kept piece past the old end takes the size with it.
//!
//! [`Tear`] names the shapes a cut can take on purpose, so a seed produces the
//! reorderings a real power loss produces, often: one write split with only its later
//! part persisted ([`Tear::TornOp`]), a run of writes lost while later ones persisted
//! ([`Tear::TornSeq`]), next to the in-order tear, nothing and everything.

/// A sector: the smallest piece a disk persists on its own.
pub(crate) const SECTOR_BYTES: u64 = 512;
/// A page: the piece writeback writes.
pub(crate) const PAGE_BYTES: u64 = 4096;
/// Unsynced writes remembered per file. Past it a new write is merged into the newest
/// (their hull), so a file written this often without a sync loses the order of its
/// newest writes, never memory without bound. Far above what any test writes between
/// two syncs.
const WRITES_MAX: usize = 1 << 20;

/// How a power cut treats a file's unsynced writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Tear {
    /// The seed picks one of the shapes below for each file (torn-op and torn-seq
    /// each two times in nine, in-order two in nine, the others one in nine).
    #[default]
    Any,
    /// Nothing unsynced survives: the durable image, exactly.
    Nothing,
    /// Every unsynced write and size change survives: the live image, exactly.
    Everything,
    /// A prefix of the pieces in write order, the last kept write torn at a piece
    /// boundary: a disk that persists in submission order (never a later byte kept
    /// while an earlier one is lost, for a file written front to back).
    InOrder,
    /// One write split, only its later part persisted: the writes before it kept, the
    /// writes after it lost. Falls back to `InOrder` where no write spans two pieces
    /// that change the file.
    TornOp,
    /// A run of writes lost while later writes persisted (writes before the run
    /// kept). Falls back to `InOrder` where fewer than two writes change the file.
    TornSeq,
    /// Each piece survives or not on its own, as do the size changes.
    Subset,
}

impl Tear {
    /// The shape for one file: `self`, or one drawn from `rng` for `Any`.
    fn resolve(self, rng: &mut u64) -> Tear {
        if self != Tear::Any {
            return self;
        }
        const SHAPES: [Tear; 9] = [
            Tear::Nothing,
            Tear::Everything,
            Tear::InOrder,
            Tear::InOrder,
            Tear::TornOp,
            Tear::TornOp,
            Tear::TornSeq,
            Tear::TornSeq,
            Tear::Subset,
        ];
        let at = usize::try_from(draw(rng) % SHAPES.len() as u64).unwrap_or(0);
        SHAPES.get(at).copied().unwrap_or(Tear::Subset)
    }
}

/// A byte range `[start, end)` of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) start: u64,
    pub(crate) end: u64,
}

/// One file's changes since its last successful sync.
#[derive(Debug, Clone)]
pub(crate) struct Unsynced {
    /// The file's content at its last sync.
    pub(crate) durable: Vec<u8>,
    /// The ranges written since, in the order the writes arrived.
    pub(crate) writes: Vec<Span>,
    /// The smallest size the file had since: if the size changes survive, the durable
    /// bytes from here on were cut off (they read as zeros unless a kept piece
    /// covers them).
    pub(crate) len_min: u64,
}

impl Unsynced {
    pub(crate) fn new(durable: Vec<u8>) -> Unsynced {
        let len_min = durable.len() as u64;
        Unsynced {
            durable,
            writes: Vec::new(),
            len_min,
        }
    }

    /// A write (or a change of content like a punched hole) of `len` bytes at `start`.
    pub(crate) fn wrote(&mut self, start: u64, len: u64) {
        if len == 0 {
            return;
        }
        let span = Span {
            start,
            end: start.saturating_add(len),
        };
        let full = self.writes.len() >= WRITES_MAX;
        match self.writes.last_mut() {
            Some(last) if full => {
                last.start = last.start.min(span.start);
                last.end = last.end.max(span.end);
            }
            _ => self.writes.push(span),
        }
    }

    /// The file's size was set to `len` (a truncate).
    pub(crate) fn resized(&mut self, len: u64) {
        self.len_min = self.len_min.min(len);
    }
}

/// What one file came back as, judged from its bytes (not from the shape asked for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Exactly the durable image.
    Reverted,
    /// Exactly the live image.
    Kept,
    /// Some unsynced change lost, and no change kept after a lost one.
    TornInOrder,
    /// A lost change followed by a kept one: later in the same write (`torn_op`), or
    /// in a later write (`torn_seq`); both can hold.
    Reordered { torn_op: bool, torn_seq: bool },
}

/// The file a cut leaves, and what it is.
#[derive(Debug)]
pub(crate) struct Restored {
    pub(crate) bytes: Vec<u8>,
    pub(crate) outcome: Outcome,
}

/// A piece of write number `write`.
#[derive(Debug, Clone, Copy)]
struct Piece {
    write: usize,
    span: Span,
}

/// Which pieces a cut keeps, and whether the size changes survive.
#[derive(Debug)]
struct Plan {
    pieces: Vec<Piece>,
    keep: Vec<bool>,
    size_kept: bool,
}

/// What a power cut leaves of `file`, whose live image is `live`, torn as `tear`
/// says, with the choices drawn from `rng`.
pub(crate) fn restore(file: &Unsynced, live: &[u8], tear: Tear, rng: &mut u64) -> Restored {
    let plan = match tear.resolve(rng) {
        Tear::Nothing => all_or_none(file, live, false),
        Tear::Everything => all_or_none(file, live, true),
        Tear::TornOp => torn_op(file, live, rng).unwrap_or_else(|| in_order(file, live, rng)),
        Tear::TornSeq => torn_seq(file, live, rng).unwrap_or_else(|| in_order(file, live, rng)),
        Tear::Subset => subset(file, live, rng),
        Tear::Any | Tear::InOrder => in_order(file, live, rng),
    };
    let bytes = build(file, live, &plan);
    let outcome = classify(file, live, &plan, &bytes);
    Restored { bytes, outcome }
}

fn draw(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// A number in `0..n` (0 for an empty range).
fn below(rng: &mut u64, n: usize) -> usize {
    match n {
        0 => 0,
        _ => usize::try_from(draw(rng) % n as u64).unwrap_or(0),
    }
}

fn coin(rng: &mut u64) -> bool {
    draw(rng) & 1 == 0
}

/// Every write cut at multiples of `grain` (and at the end of the live image: bytes
/// past it no longer exist to be written back), in write order, each write's pieces
/// front to back.
fn pieces(writes: &[Span], live_len: u64, grain: u64) -> Vec<Piece> {
    let mut out = Vec::new();
    for (write, w) in writes.iter().enumerate() {
        let end = w.end.min(live_len);
        let mut at = w.start;
        while at < end {
            let to = ((at / grain).saturating_add(1))
                .saturating_mul(grain)
                .min(end);
            out.push(Piece {
                write,
                span: Span { start: at, end: to },
            });
            at = to;
        }
    }
    out
}

fn grain(rng: &mut u64) -> u64 {
    if coin(rng) { SECTOR_BYTES } else { PAGE_BYTES }
}

/// The bytes of `span` in `bytes` (the part that exists).
fn range(bytes: &[u8], span: Span) -> &[u8] {
    let len = bytes.len() as u64;
    let (start, end) = (span.start.min(len) as usize, span.end.min(len) as usize);
    bytes.get(start..end).unwrap_or_default()
}

/// Whether keeping `span` of the live image changes what the durable image holds
/// there (bytes past the durable end change it: they make the file longer). A piece
/// that wrote back what was already there changes nothing a reader can see.
fn changes(file: &Unsynced, live: &[u8], span: Span) -> bool {
    let new = range(live, span);
    let old = range(&file.durable, span);
    new.len() != old.len() || new != old
}

fn all_or_none(file: &Unsynced, live: &[u8], all: bool) -> Plan {
    let pieces = pieces(&file.writes, live.len() as u64, SECTOR_BYTES);
    Plan {
        keep: vec![all; pieces.len()],
        pieces,
        size_kept: all,
    }
}

/// A prefix of the pieces in write order, torn strictly inside when there are two or
/// more pieces (else none or all).
fn in_order(file: &Unsynced, live: &[u8], rng: &mut u64) -> Plan {
    let pieces = pieces(&file.writes, live.len() as u64, grain(rng));
    let n = pieces.len();
    let kept = if n >= 2 {
        1 + below(rng, n - 1)
    } else {
        below(rng, n + 1)
    };
    Plan {
        keep: (0..n).map(|i| i < kept).collect(),
        pieces,
        size_kept: coin(rng),
    }
}

/// Each piece on its own.
fn subset(file: &Unsynced, live: &[u8], rng: &mut u64) -> Plan {
    let pieces = pieces(&file.writes, live.len() as u64, grain(rng));
    Plan {
        keep: pieces.iter().map(|_| coin(rng)).collect(),
        pieces,
        size_kept: coin(rng),
    }
}

/// One write split between two pieces that change the file, only the later part
/// kept; the writes before it kept whole, the writes after it lost. At page grain
/// where that splits some write, else at sector grain; `None` where no write spans
/// two changing sectors.
fn torn_op(file: &Unsynced, live: &[u8], rng: &mut u64) -> Option<Plan> {
    let first = grain(rng);
    let other = if first == SECTOR_BYTES {
        PAGE_BYTES
    } else {
        SECTOR_BYTES
    };
    for g in [first, other] {
        let pieces = pieces(&file.writes, live.len() as u64, g);
        let changing: Vec<bool> = pieces.iter().map(|p| changes(file, live, p.span)).collect();
        // For each write, the indexes of its first and last changing pieces.
        let mut bounds: Vec<(usize, usize, usize)> = Vec::new();
        for (i, p) in pieces.iter().enumerate() {
            if changing.get(i) != Some(&true) {
                continue;
            }
            match bounds.last_mut() {
                Some((w, _, last)) if *w == p.write => *last = i,
                _ => bounds.push((p.write, i, i)),
            }
        }
        bounds.retain(|(_, first, last)| first < last);
        let Some(&(write, first, last)) = bounds.get(below(rng, bounds.len())) else {
            continue;
        };
        // Lose from the write's first piece up to a point after its first changing
        // piece and at or before its last one: a change lost, a later change kept.
        let from = first + 1 + below(rng, last - first);
        let keep = pieces
            .iter()
            .enumerate()
            .map(|(i, p)| p.write < write || (p.write == write && i >= from))
            .collect();
        return Some(Plan {
            pieces,
            keep,
            size_kept: coin(rng),
        });
    }
    None
}

/// Writes before `lost_from` kept, a run up to `kept_from` lost, the rest kept; both
/// bounds at writes that change the file. `None` with fewer than two such writes.
fn torn_seq(file: &Unsynced, live: &[u8], rng: &mut u64) -> Option<Plan> {
    let pieces = pieces(&file.writes, live.len() as u64, grain(rng));
    let mut changing: Vec<usize> = pieces
        .iter()
        .filter(|p| changes(file, live, p.span))
        .map(|p| p.write)
        .collect();
    changing.dedup();
    if changing.len() < 2 {
        return None;
    }
    let k = 1 + below(rng, changing.len() - 1);
    let a = below(rng, k);
    let (lost_from, kept_from) = (*changing.get(a)?, *changing.get(k)?);
    let keep = pieces
        .iter()
        .map(|p| p.write < lost_from || p.write >= kept_from)
        .collect();
    Some(Plan {
        pieces,
        keep,
        size_kept: coin(rng),
    })
}

/// The durable image, with the size changes if they survive, overlaid by the live
/// content of every kept piece.
fn build(file: &Unsynced, live: &[u8], plan: &Plan) -> Vec<u8> {
    let durable_len = file.durable.len() as u64;
    let kept_end = kept(plan).map(|p| p.span.end).max().unwrap_or(0);
    let base_len = if plan.size_kept {
        live.len() as u64
    } else {
        durable_len
    };
    let len = base_len.max(kept_end);
    let mut out = vec![0u8; len as usize];
    // A surviving shrink cut the durable bytes past the smallest size; bytes past the
    // durable end were never durable: both read as zeros unless a piece covers them.
    let durable_end = if plan.size_kept {
        file.len_min.min(durable_len)
    } else {
        durable_len
    };
    copy(
        &mut out,
        &file.durable,
        Span {
            start: 0,
            end: durable_end,
        },
    );
    for p in kept(plan) {
        copy(&mut out, live, p.span);
    }
    out
}

fn kept(plan: &Plan) -> impl Iterator<Item = &Piece> {
    plan.pieces
        .iter()
        .zip(&plan.keep)
        .filter(|(_, k)| **k)
        .map(|(p, _)| p)
}

/// Copies `span` of `from` into `out` (the part both hold).
fn copy(out: &mut [u8], from: &[u8], span: Span) {
    let src = range(from, span);
    let start = span.start as usize;
    if let Some(dst) = out.get_mut(start..start + src.len()) {
        dst.copy_from_slice(src);
    }
}

/// Judges the result by what a reader sees: a piece is *lost* when some byte of it
/// differs from the live image, *kept with a change* when kept and its live content
/// differs from the durable one.
fn classify(file: &Unsynced, live: &[u8], plan: &Plan, bytes: &[u8]) -> Outcome {
    if bytes == file.durable.as_slice() {
        return Outcome::Reverted;
    }
    if bytes == live {
        return Outcome::Kept;
    }
    let lost = |i: usize, p: &Piece| {
        plan.keep.get(i) != Some(&true) && range(bytes, p.span) != range(live, p.span)
    };
    let kept_change =
        |i: usize, p: &Piece| plan.keep.get(i) == Some(&true) && changes(file, live, p.span);
    let (mut torn_op, mut torn_seq) = (false, false);
    // Whether a piece was lost earlier in the current write / in an earlier write.
    let (mut lost_in_write, mut lost_before_write) = (false, false);
    let mut current = None;
    for (i, p) in plan.pieces.iter().enumerate() {
        if current != Some(p.write) {
            lost_before_write |= lost_in_write;
            lost_in_write = false;
            current = Some(p.write);
        }
        if kept_change(i, p) {
            torn_op |= lost_in_write;
            torn_seq |= lost_before_write;
        }
        lost_in_write |= lost(i, p);
    }
    if torn_op || torn_seq {
        Outcome::Reordered { torn_op, torn_seq }
    } else {
        Outcome::TornInOrder
    }
}

#[cfg(test)]
mod tests;
