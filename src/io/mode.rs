//! How a file is opened. A leaf module: the filesystem seam (`fs.rs`) and the
//! simulator (`crate::sim`) both use it, and it uses neither, so the two do not
//! depend on each other in a cycle.

/// How to open a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Read only; the file must exist.
    Read,
    /// Read and write; the file must exist.
    ReadWrite,
    /// Read and write, created if missing, emptied if present.
    CreateTruncate,
    /// Read and write, created if missing, kept as it is if present.
    CreateKeep,
}
