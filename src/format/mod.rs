//! The on-disk format as pure functions over bytes. Nothing here opens a file.
//! docs/FORMAT.md describes the same layout for people.

pub mod checkpoint;
pub mod frame;
pub mod header;
pub mod names;

/// Format version written into every header. Bump on any incompatible change.
/// Version 2 added the durable claims (frame `durable`, header `durable floor`) that
/// let recovery tell a torn tail from damage to durable records; version 3 the padding
/// between commits that lets direct writes pipeline (docs/FORMAT.md); version 4
/// recycled segment files: the header's `recycled` flag and the recycled-blank marker.
pub const FORMAT_VERSION: u32 = 4;

/// The oldest version this build reads. A version-3 file is a version-4 file that
/// never recycles a segment (its header flags are zero).
pub const FORMAT_VERSION_OLDEST_READ: u32 = 3;

/// Whether this build reads files of format `version`.
pub fn version_readable(version: u32) -> bool {
    (FORMAT_VERSION_OLDEST_READ..=FORMAT_VERSION).contains(&version)
}

/// Padding between commits (docs/FORMAT.md): where a chain whose next frame is not at
/// `at` may go on. That is the next `PAD_BLOCK` boundary when `at` lies inside a block
/// and `from_at` (the bytes from `at` on) is zero up to it; `None` otherwise. The
/// caller still checks that the frame there is the one the chain expects.
pub(crate) fn padding_end(at: u64, from_at: &[u8]) -> Option<u64> {
    use crate::limits::PAD_BLOCK;
    let next = at.next_multiple_of(PAD_BLOCK);
    let gap = from_at.get(..usize::try_from(next - at).ok()?)?;
    (next != at && gap.iter().all(|&b| b == 0)).then_some(next)
}

/// The bytes from `at` to the end of its `PAD_BLOCK`: what `padding_end` looks at.
pub(crate) fn bytes_to_block_end(at: u64) -> usize {
    (crate::limits::PAD_BLOCK - at % crate::limits::PAD_BLOCK) as usize
}

/// Reads a little-endian `u32` at `at`, or `None` past the end.
pub(crate) fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let raw: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(raw))
}

/// Reads a little-endian `u64` at `at`, or `None` past the end.
pub(crate) fn read_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let raw: [u8; 8] = bytes.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_le_bytes(raw))
}

/// Writes `value` little-endian at `at`; the caller sized `bytes`.
pub(crate) fn put(bytes: &mut [u8], at: usize, value: &[u8]) {
    if let Some(dst) = bytes.get_mut(at..at + value.len()) {
        dst.copy_from_slice(value);
    } else {
        debug_assert!(false, "format::put out of bounds");
    }
}
