//! One background thread that wakes tasks after a delay, for the one wait that has no
//! event to hang on: a cross-process tail polling the files (`LogReader::tail` as a
//! stream). Started on first use; every such wait shares it.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Mutex, OnceLock};
use std::task::Waker;
use std::time::{Duration, Instant};

struct Due(Instant, u64, Waker);

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        (self.0, self.1) == (other.0, other.1)
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Due {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.0, self.1).cmp(&(other.0, other.1))
    }
}

/// Where wake-ups are sent: `None` if the thread could not be started.
type Requests = Option<Mutex<Sender<(Instant, Waker)>>>;

static TIMER: OnceLock<Requests> = OnceLock::new();

/// Wakes `waker` once `delay` has passed. If the timer thread cannot be started, wakes
/// it at once (the caller polls again sooner than asked; nothing is lost).
pub(crate) fn wake_after(delay: Duration, waker: Waker) {
    let timer = TIMER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<(Instant, Waker)>();
        std::thread::Builder::new()
            .name("ringwal-timer".into())
            .spawn(move || run(&rx))
            .ok()
            .map(|_| Mutex::new(tx))
    });
    let sent = timer.as_ref().is_some_and(|tx| {
        tx.lock()
            .unwrap_or_else(|p| p.into_inner())
            .send((Instant::now() + delay, waker.clone()))
            .is_ok()
    });
    if !sent {
        waker.wake();
    }
}

fn run(rx: &mpsc::Receiver<(Instant, Waker)>) {
    let mut due: BinaryHeap<Reverse<Due>> = BinaryHeap::new();
    let mut seq = 0u64;
    loop {
        let now = Instant::now();
        while due.peek().is_some_and(|Reverse(d)| d.0 <= now) {
            if let Some(Reverse(Due(_, _, waker))) = due.pop() {
                waker.wake();
            }
        }
        let got = match due.peek() {
            Some(Reverse(d)) => rx.recv_timeout(d.0.saturating_duration_since(now)),
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match got {
            Ok((at, waker)) => {
                seq += 1;
                due.push(Reverse(Due(at, seq, waker)));
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}
