//! The vote, the committed log id and the purge point, kept in a ringwal log of their
//! own (`DIR/meta`): each change appends the whole state, and an open reads the last
//! record. A separate log, because the entry log is cut back by truncations and
//! checkpoints that must never take the vote with them.

use std::path::Path;

use openraft::NodeId;
use ringwal::{Lsn, Options, Wal};

use crate::error::Error;
use crate::record::{Meta, decode_meta, encode_meta};

/// Records appended between two checkpoints of the meta log (which retire its old
/// segments): a checkpoint costs a few syncs, so it is spread over many saves.
const CHECKPOINT_EVERY: u64 = 1024;

#[derive(Debug)]
pub(crate) struct MetaLog<NID: NodeId> {
    wal: Wal,
    pub state: Meta<NID>,
}

impl<NID: NodeId> MetaLog<NID> {
    pub fn open(dir: &Path, options: Options) -> Result<Self, Error> {
        let wal = Wal::open(dir, options)?;
        let last = wal.last_lsn();
        let state = if last > wal.checkpoint_lsn() {
            match wal.read_from(last)?.next() {
                Some(record) => decode_meta(record?.payload(), last.get())?,
                None => Meta::default(),
            }
        } else {
            Meta::default()
        };
        Ok(MetaLog { wal, state })
    }

    /// Appends `next` as the new state and returns once it is synced (the meta log's
    /// own sync: the entry log is not waited for).
    pub fn save(&mut self, next: Meta<NID>) -> Result<(), Error> {
        let record = encode_meta(&next)?;
        let lsn = self.wal.append_durable(&record)?;
        self.state = next;
        if lsn.get() - self.wal.checkpoint_lsn().get() > CHECKPOINT_EVERY {
            // Everything before this record is superseded by it.
            self.wal.checkpoint(Lsn::new(lsn.get() - 1))?;
        }
        Ok(())
    }
}
