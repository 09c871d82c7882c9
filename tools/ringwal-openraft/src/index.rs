//! Where each Raft log index lives in the ringwal log.
//!
//! Every ringwal record of the entry log is one Raft entry, in index order, so the
//! mapping is a list of runs: consecutive indexes stored at consecutive LSNs. A Raft
//! log that never skips an index is one run whatever its length; each skipped index
//! (which openraft's own tests do, and a snapshot install can) starts a new one.

/// `len` entries with indexes `index..index + len` at LSNs `lsn..lsn + len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    index: u64,
    lsn: u64,
    len: u64,
}

impl Run {
    fn end_index(&self) -> u64 {
        self.index + self.len
    }
}

/// The live entries (above the purge point), in index order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Runs {
    runs: Vec<Run>,
}

/// Entries `index..index + count` stored from `lsn` on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub index: u64,
    pub lsn: u64,
    pub count: u64,
}

impl Runs {
    /// Adds the entry at `index`, stored at `lsn`; both above every entry so far.
    pub fn push(&mut self, index: u64, lsn: u64) {
        debug_assert!(self.last().is_none_or(|(i, l)| index > i && lsn > l));
        if let Some(run) = self.runs.last_mut()
            && run.end_index() == index
            && run.lsn + run.len == lsn
        {
            run.len += 1;
            return;
        }
        self.runs.push(Run { index, lsn, len: 1 });
    }

    /// The last entry: (index, LSN).
    pub fn last(&self) -> Option<(u64, u64)> {
        self.runs
            .last()
            .map(|r| (r.end_index() - 1, r.lsn + r.len - 1))
    }

    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// The LSN of the entry at `index`, if there is one.
    pub fn lsn_of(&self, index: u64) -> Option<u64> {
        let at = self.runs.partition_point(|r| r.end_index() <= index);
        self.runs
            .get(at)
            .filter(|r| r.index <= index)
            .map(|r| r.lsn + (index - r.index))
    }

    /// The first entry at or above `index`: (index, LSN).
    pub fn first_from(&self, index: u64) -> Option<(u64, u64)> {
        let at = self.runs.partition_point(|r| r.end_index() <= index);
        self.runs.get(at).map(|r| {
            let i = index.max(r.index);
            (i, r.lsn + (i - r.index))
        })
    }

    /// Forgets the entries at or above `index`.
    pub fn truncate_from(&mut self, index: u64) {
        self.runs.retain(|r| r.index < index);
        if let Some(run) = self.runs.last_mut() {
            run.len = run.len.min(index - run.index);
        }
    }

    /// Forgets the entries at or below `index`; returns the highest LSN forgotten.
    pub fn purge_upto(&mut self, index: u64) -> Option<u64> {
        let mut dropped = None;
        self.runs.retain_mut(|r| {
            if r.end_index() <= index + 1 {
                dropped = Some(r.lsn + r.len - 1);
                return false;
            }
            if r.index <= index {
                let cut = index + 1 - r.index;
                dropped = Some(r.lsn + cut - 1);
                r.index += cut;
                r.lsn += cut;
                r.len -= cut;
            }
            true
        });
        dropped
    }

    /// The stretches of LSNs holding the entries with indexes in `start..end`.
    pub fn spans(&self, start: u64, end: u64) -> Vec<Span> {
        let from = self.runs.partition_point(|r| r.end_index() <= start);
        self.runs
            .iter()
            .skip(from)
            .take_while(|r| r.index < end)
            .map(|r| {
                let first = start.max(r.index);
                let last = end.min(r.end_index());
                Span {
                    index: first,
                    lsn: r.lsn + (first - r.index),
                    count: last - first,
                }
            })
            .filter(|s| s.count > 0)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(entries: &[(u64, u64)]) -> Runs {
        let mut r = Runs::default();
        for &(index, lsn) in entries {
            r.push(index, lsn);
        }
        r
    }

    #[test]
    fn a_log_without_gaps_is_one_run() {
        let r = runs(&(0..1000).map(|i| (i, i + 1)).collect::<Vec<_>>());
        assert_eq!(r.runs.len(), 1);
        assert_eq!(r.lsn_of(500), Some(501));
        assert_eq!(r.lsn_of(1000), None);
        assert_eq!(r.last(), Some((999, 1000)));
    }

    #[test]
    fn gaps_make_runs_and_lookups_skip_them() {
        let r = runs(&[(1, 1), (3, 2), (4, 3), (100, 4)]);
        assert_eq!(r.runs.len(), 3);
        assert_eq!(r.lsn_of(2), None);
        assert_eq!(r.lsn_of(4), Some(3));
        assert_eq!(r.first_from(2), Some((3, 2)));
        assert_eq!(r.first_from(5), Some((100, 4)));
        assert_eq!(r.first_from(101), None);
        assert_eq!(
            r.spans(0, 101),
            vec![
                Span {
                    index: 1,
                    lsn: 1,
                    count: 1
                },
                Span {
                    index: 3,
                    lsn: 2,
                    count: 2
                },
                Span {
                    index: 100,
                    lsn: 4,
                    count: 1
                },
            ]
        );
        assert_eq!(
            r.spans(4, 50),
            vec![Span {
                index: 4,
                lsn: 3,
                count: 1
            }]
        );
    }

    #[test]
    fn truncation_and_purge_cut_runs_in_the_middle() {
        let mut r = runs(&(10..20).map(|i| (i, i - 9)).collect::<Vec<_>>());
        r.truncate_from(15);
        assert_eq!(r.last(), Some((14, 5)));
        assert_eq!(r.purge_upto(11), Some(2));
        assert_eq!(r.lsn_of(11), None);
        assert_eq!(r.lsn_of(12), Some(3));
        assert_eq!(r.purge_upto(30), Some(5));
        assert!(r.is_empty());
        assert_eq!(r.purge_upto(30), None);
    }
}
