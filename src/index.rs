//! The sparse LSN → place index behind `Wal::get`: per live segment, its first LSN and
//! a sample (LSN, offset of its frame) every `INDEX_STRIDE_BYTES` of the segment.
//! Recovery fills it from its scan of every frame; the writer's staging adds to it as
//! frames are placed; retirement and cuts take from it. A lookup is two binary
//! searches (segment by first LSN, sample by LSN) and one read of at most a stride
//! plus the record.
//!
//! Memory: 16 bytes per sample, so `16 × segment_bytes / INDEX_STRIDE_BYTES` bytes per
//! segment (16 KiB for a full 64 MiB segment, 16 bytes for a 64 KiB one), plus one
//! map entry (~64 bytes) per live segment.

use std::collections::BTreeMap;

/// Bytes of segment between two samples.
pub const INDEX_STRIDE_BYTES: u64 = 64 << 10;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Samples {
    sequence: u64,
    /// (LSN, offset of its frame), increasing in both.
    points: Vec<(u64, u64)>,
}

/// See the module docs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct LsnIndex {
    /// By the segment's first LSN.
    segments: BTreeMap<u64, Samples>,
    /// The segment of the newest sample and the offset the next one is due at: lets
    /// `observe`, called for every staged batch under the staging lock, return after
    /// two comparisons until a sample is due.
    due: Option<(u64, u64)>,
}

/// Where to start reading for an LSN: a frame at or before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Place {
    pub sequence: u64,
    pub offset: u64,
    /// The LSN of the frame at `offset` (at most the one looked up).
    pub lsn: u64,
}

impl LsnIndex {
    /// Notes the frame of `lsn` at `offset` of segment `sequence` (frames come in LSN
    /// order; a segment's first frame starts its entry).
    pub fn observe(&mut self, sequence: u64, lsn: u64, offset: u64) {
        if self
            .due
            .is_some_and(|(seq, at)| seq == sequence && offset < at)
        {
            return;
        }
        self.sample(sequence, lsn, offset);
        // Exactly when the newest sample says the next one is due.
        self.due = self.segments.last_key_value().and_then(|(_, s)| {
            s.points
                .last()
                .map(|&(_, at)| (s.sequence, at + INDEX_STRIDE_BYTES))
        });
    }

    fn sample(&mut self, sequence: u64, lsn: u64, offset: u64) {
        let needs_entry = self
            .segments
            .last_key_value()
            .is_none_or(|(_, s)| s.sequence != sequence);
        if needs_entry {
            self.segments.insert(
                lsn,
                Samples {
                    sequence,
                    points: vec![(lsn, offset)],
                },
            );
            return;
        }
        if let Some(mut last) = self.segments.last_entry() {
            let points = &mut last.get_mut().points;
            let due = points
                .last()
                .is_none_or(|&(l, at)| lsn > l && offset >= at + INDEX_STRIDE_BYTES);
            if due {
                points.push((lsn, offset));
            }
        }
    }

    /// A frame at or before `lsn` in the segment that holds it, if any segment could.
    pub fn locate(&self, lsn: u64) -> Option<Place> {
        let (_, samples) = self.segments.range(..=lsn).next_back()?;
        let i = samples.points.partition_point(|&(l, _)| l <= lsn);
        let &(at_lsn, offset) = samples.points.get(i.checked_sub(1)?)?;
        Some(Place {
            sequence: samples.sequence,
            offset,
            lsn: at_lsn,
        })
    }

    /// The first LSN still indexed.
    pub fn first_lsn(&self) -> Option<u64> {
        self.segments.first_key_value().map(|(l, _)| *l)
    }

    /// Forgets the segments `sequences` (retired by a checkpoint).
    pub fn retire(&mut self, sequences: &[u64]) {
        self.segments
            .retain(|_, s| !sequences.contains(&s.sequence));
    }

    /// Forgets every frame from `lsn` on (a cut of the log).
    pub fn cut(&mut self, lsn: u64) {
        self.due = None;
        self.segments.retain(|first, _| *first < lsn);
        if let Some(mut last) = self.segments.last_entry() {
            last.get_mut().points.retain(|&(l, _)| l < lsn);
        }
    }

    /// Bytes the samples take (for tests and the docs' claim).
    #[cfg(test)]
    pub fn sample_bytes(&self) -> usize {
        self.segments
            .values()
            .map(|s| s.points.len() * std::mem::size_of::<(u64, u64)>())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_finds_the_sample_at_or_before_and_respects_cuts_and_retirement() {
        let mut index = LsnIndex::default();
        // Segment 1: LSNs 1..=1000, 1 KiB frames from 4096 on.
        for lsn in 1..=1000u64 {
            index.observe(1, lsn, 4096 + (lsn - 1) * 1024);
        }
        // Segment 2: LSNs 1001..=1500.
        for lsn in 1001..=1500u64 {
            index.observe(2, lsn, 4096 + (lsn - 1001) * 1024);
        }
        let p = index.locate(1).unwrap();
        assert_eq!((p.sequence, p.offset, p.lsn), (1, 4096, 1));
        let p = index.locate(700).unwrap();
        assert_eq!(p.sequence, 1);
        assert!(p.lsn <= 700 && 700 - p.lsn < 64, "{p:?}");
        let p = index.locate(1001).unwrap();
        assert_eq!((p.sequence, p.lsn), (2, 1001));
        assert_eq!(index.locate(0), None);
        // A 64 KiB stride over 1 MiB: 16 samples, not 1000.
        assert!(
            index.sample_bytes() <= 16 * (16 + 8 + 2),
            "{}",
            index.sample_bytes()
        );
        index.cut(1200);
        assert!(index.locate(1300).is_none_or(|p| p.lsn < 1200));
        index.retire(&[1]);
        assert_eq!(index.first_lsn(), Some(1001));
        assert_eq!(index.locate(5), None);
    }
}
