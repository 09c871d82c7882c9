//! Bounds on everything, and the relations between them, checked at compile time.

/// Bytes reserved at the start of every segment for its header. Record data starts
/// here; 4 KiB keeps the data area aligned for direct I/O.
pub const SEGMENT_HEADER_BYTES: u64 = 4096;

/// Bytes of a record frame before its payload (see `format::frame`).
pub const FRAME_HEADER_BYTES: u64 = 24;

/// Frames start at multiples of this, so a scan for valid data after damage can step
/// through a segment without trying every byte.
pub const FRAME_ALIGN: u64 = 8;

/// Padding granularity: a commit may leave the rest of a block of this size zero and
/// go on at the next multiple of it (docs/FORMAT.md, "Padding"), so that two direct
/// writes in flight never share a block. Readers skip such a gap only when it is all
/// zeros and the frame after it is the next one of the chain.
pub const PAD_BLOCK: u64 = 4096;

/// The largest payload the format can describe: the length field's top bit is a flag.
pub const RECORD_BYTES_MAX: u64 = (1 << 30) - 1;

/// The smallest segment a log may use.
pub const SEGMENT_BYTES_MIN: u64 = 2 * SEGMENT_HEADER_BYTES;

/// The largest segment a log may use.
pub const SEGMENT_BYTES_MAX: u64 = 1 << 40;

/// The smallest staging buffer a log may use.
pub const STAGING_BYTES_MIN: u64 = 4096;

/// The largest staging buffer (allocated up front, once per buffer the driver keeps;
/// see `STAGING_MEMORY_BYTES_MAX`).
pub const STAGING_BYTES_MAX: u64 = 1 << 30;

/// Most records one `append_batch` call may carry.
pub const BATCH_RECORDS_MAX: usize = 1 << 20;

/// The largest LSN or segment sequence the log accepts from disk: far beyond any real
/// log, low enough that `+ 1` arithmetic on it can never overflow.
pub const LSN_MAX: u64 = 1 << 62;

/// Most segments one flush (one staging buffer) may span. Staging starts a new
/// buffer rather than a further segment once a buffer reaches this many: it bounds the
/// ring entries and fixed-file slots a flush needs whatever the segment, record and
/// batch sizes (a batch that fills most of a small segment rotates on every append).
pub const FLUSH_SEGMENTS_MAX: usize = 16;

/// Driver operations one flush may need: a sync of the segment a previous flush left
/// unsynced, then a write and a sync per segment it spans.
pub const FLUSH_OPS_MAX: usize = 2 * FLUSH_SEGMENTS_MAX + 1;

/// Most flushes (io_uring chains) a log may keep in flight.
pub const CHAINS_IN_FLIGHT_MAX: u32 = 64;

/// Most bytes of staging buffers a log may allocate: `staging_bytes_max` times the
/// buffers the driver keeps (`chains_in_flight_max + 1`; with `direct_io`, at least
/// `2 × direct_depth + 1`, counting the aligned copies direct writes go out from).
pub const STAGING_MEMORY_BYTES_MAX: u64 = 8 << 30;

/// Reads during recovery and scans are done in chunks of this many bytes.
pub const READ_CHUNK_BYTES: usize = 1 << 20;

const _: () = assert!(SEGMENT_HEADER_BYTES.is_multiple_of(FRAME_ALIGN));
const _: () = assert!(FRAME_HEADER_BYTES.is_multiple_of(FRAME_ALIGN));
const _: () = assert!(FRAME_ALIGN.is_power_of_two());
const _: () = assert!(SEGMENT_HEADER_BYTES.is_multiple_of(PAD_BLOCK));
const _: () = assert!(PAD_BLOCK.is_multiple_of(FRAME_ALIGN));
const _: () = assert!(SEGMENT_BYTES_MIN > SEGMENT_HEADER_BYTES + FRAME_HEADER_BYTES);
const _: () = assert!(STAGING_BYTES_MIN >= FRAME_HEADER_BYTES + FRAME_ALIGN);
const _: () = assert!(RECORD_BYTES_MAX < (1 << 31));
const _: () = assert!(READ_CHUNK_BYTES as u64 >= SEGMENT_HEADER_BYTES);
const _: () = assert!(FLUSH_SEGMENTS_MAX >= 2);
const _: () = assert!(STAGING_MEMORY_BYTES_MAX >= 2 * STAGING_BYTES_MAX);

/// Bytes a frame with `payload_bytes` of payload occupies on disk, padding included.
pub const fn frame_bytes(payload_bytes: u64) -> u64 {
    let raw = FRAME_HEADER_BYTES + payload_bytes;
    (raw + FRAME_ALIGN - 1) & !(FRAME_ALIGN - 1)
}

/// Retired segment files kept for reuse by default (`Options::recycle_segments`).
pub const RECYCLE_SEGMENTS_DEFAULT: u32 = 4;
/// Most retired segment files `Options::recycle_segments` may keep.
pub const RECYCLE_SEGMENTS_MAX: u32 = 1024;
