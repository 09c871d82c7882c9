//! `Error::is_corrupt` is documented to answer for a poison cause too: a log poisoned
//! by corruption is corrupt, whatever depth of `Poisoned` wraps it.

use std::sync::Arc;

use ringwal::{CorruptReason, Error};

fn corrupt() -> Error {
    Error::Corrupt {
        segment: 2,
        offset: 64,
        reason: CorruptReason::IncompleteBatch,
    }
}

#[test]
fn is_corrupt_looks_through_poison() {
    assert!(corrupt().is_corrupt());
    let poisoned = Error::Poisoned {
        cause: Arc::new(corrupt()),
    };
    assert!(poisoned.is_corrupt(), "{poisoned:?}");
    let twice = Error::Poisoned {
        cause: Arc::new(poisoned),
    };
    assert!(twice.is_corrupt(), "{twice:?}");
    let not = Error::Poisoned {
        cause: Arc::new(Error::Closed),
    };
    assert!(!not.is_corrupt());
}
