//! The bytes of the two ringwal logs' records.
//!
//! Entry log: `index: u64 LE ‖ postcard(entry)`. The index up front lets the store
//! rebuild its index map at open without decoding the entries.
//! Meta log: `postcard(Meta)`, the whole state each time; the last record wins.

use openraft::{LogId, NodeId, Vote};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::Error;

const INDEX_BYTES: usize = 8;

/// The durable state beside the entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound = "")]
pub(crate) struct Meta<NID: NodeId> {
    pub vote: Option<Vote<NID>>,
    pub committed: Option<LogId<NID>>,
    pub purged: Option<LogId<NID>>,
}

impl<NID: NodeId> Default for Meta<NID> {
    fn default() -> Self {
        Meta {
            vote: None,
            committed: None,
            purged: None,
        }
    }
}

pub(crate) fn encode_entry<E: Serialize>(index: u64, entry: &E) -> Result<Vec<u8>, Error> {
    let mut out = index.to_le_bytes().to_vec();
    postcard::to_io(entry, &mut out).map_err(|source| Error::Codec {
        log: "entries",
        lsn: 0,
        source,
    })?;
    Ok(out)
}

/// The index an entry record holds.
pub(crate) fn entry_index(record: &[u8], lsn: u64) -> Result<u64, Error> {
    let head = record
        .get(..INDEX_BYTES)
        .and_then(|b| <[u8; INDEX_BYTES]>::try_from(b).ok())
        .ok_or(Error::Codec {
            log: "entries",
            lsn,
            source: postcard::Error::DeserializeUnexpectedEnd,
        })?;
    Ok(u64::from_le_bytes(head))
}

pub(crate) fn decode_entry<E: DeserializeOwned>(record: &[u8], lsn: u64) -> Result<E, Error> {
    let body = record.get(INDEX_BYTES..).unwrap_or_default();
    postcard::from_bytes(body).map_err(|source| Error::Codec {
        log: "entries",
        lsn,
        source,
    })
}

pub(crate) fn encode_meta<NID: NodeId>(meta: &Meta<NID>) -> Result<Vec<u8>, Error> {
    postcard::to_stdvec(meta).map_err(|source| Error::Codec {
        log: "meta",
        lsn: 0,
        source,
    })
}

pub(crate) fn decode_meta<NID: NodeId>(record: &[u8], lsn: u64) -> Result<Meta<NID>, Error> {
    postcard::from_bytes(record).map_err(|source| Error::Codec {
        log: "meta",
        lsn,
        source,
    })
}
