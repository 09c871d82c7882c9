//! Writes and syncs of segment files for the portable driver, with the faults a test
//! build injects. Apart from `fs.rs` because it is built from `Options`: the
//! filesystem seam itself does not depend on the options (which depend on it).

use super::fs::SegmentFile;
use crate::error::{Error, IoOp, Result};

/// The low-level file operations the drivers use, so a test build can fail the Nth
/// write or sync without a special filesystem.
#[derive(Debug)]
pub(crate) struct FileIo {
    #[cfg(feature = "fault-injection")]
    faults: Option<crate::testing::FaultState>,
}

impl FileIo {
    pub fn from_options(options: &crate::Options) -> Self {
        #[cfg(not(feature = "fault-injection"))]
        let _ = options;
        FileIo {
            #[cfg(feature = "fault-injection")]
            faults: options.faults.map(crate::testing::FaultState::new),
        }
    }

    pub fn write_at(&mut self, segment: &SegmentFile, bytes: &[u8], offset: u64) -> Result<()> {
        #[cfg(feature = "fault-injection")]
        if let Some(e) = self.faults.as_mut().and_then(|f| f.before_write()) {
            return Err(Error::io(IoOp::Write, &segment.path, e));
        }
        segment
            .file
            .write_all_at(bytes, offset)
            .map_err(|e| Error::io(IoOp::Write, &segment.path, e))
    }

    pub fn sync(&mut self, segment: &SegmentFile) -> Result<()> {
        #[cfg(feature = "fault-injection")]
        if let Some(e) = self.faults.as_mut().and_then(|f| f.before_sync()) {
            return Err(Error::io(IoOp::Sync, &segment.path, e));
        }
        segment
            .file
            .sync_data()
            .map_err(|e| Error::io(IoOp::Sync, &segment.path, e))
    }
}
