//! The queue of signals waiting for a connection that is not up yet (dial
//! or handshake under way): many senders, then the connection task, which
//! encodes them all before senders start encoding their own signals.
//!
//! A mutex-protected deque that the receiver takes whole: a sender appends
//! under a short lock, and the receiver swaps the shared deque with its own
//! empty one, so it locks once per batch rather than once per signal.
//!
//! The semantics are those of an unbounded channel: sends fail once the
//! receiver is closed or dropped, and a closed receiver still hands out
//! what was queued before.

use crate::dist::Signal;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

/// Capacity (in signals) the receiver's batch keeps once it is empty; a
/// bigger one, left by a burst, is released so an idle connection does not
/// hold the burst's memory.
const BATCH_KEEP: usize = 1024;

struct State {
    items: VecDeque<Signal>,
    closed: bool,
}

struct Shared {
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The sending side; cloned by nobody (the `Conn` owns it), shared by
/// reference.
pub(crate) struct QueueTx {
    shared: Arc<Shared>,
}

/// The receiving side, held by the connection task.
pub(crate) struct QueueRx {
    shared: Arc<Shared>,
    /// Signals taken from the shared queue and not handed out yet.
    batch: VecDeque<Signal>,
}

/// A new empty queue.
pub(crate) fn signal_queue() -> (QueueTx, QueueRx) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::new(),
            closed: false,
        }),
    });
    (
        QueueTx {
            shared: shared.clone(),
        },
        QueueRx {
            shared,
            batch: VecDeque::new(),
        },
    )
}

impl QueueTx {
    /// Queues `sig`; gives it back (`Some`) if the receiver is closed or
    /// gone.
    #[must_use]
    pub(crate) fn send(&self, sig: Signal) -> Option<Signal> {
        let mut st = self.shared.lock();
        if st.closed {
            return Some(sig);
        }
        st.items.push_back(sig);
        None
    }
}

impl QueueRx {
    /// The next signal if one is queued.
    pub(crate) fn try_recv(&mut self) -> Option<Signal> {
        if let Some(sig) = self.batch.pop_front() {
            return Some(sig);
        }
        if self.batch.capacity() > BATCH_KEEP {
            self.batch = VecDeque::new();
        }
        let mut st = self.shared.lock();
        std::mem::swap(&mut st.items, &mut self.batch);
        drop(st);
        self.batch.pop_front()
    }

    /// Refuses further sends; what was queued can still be taken.
    pub(crate) fn close(&mut self) {
        self.shared.lock().closed = true;
    }
}

impl Drop for QueueRx {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::term::{Atom, Pid, Term};

    fn sig(i: i64) -> Signal {
        Signal::Send {
            from: None,
            to: Pid {
                node: Atom::from("a@h"),
                id: 1,
                serial: 0,
                creation: 1,
            },
            msg: Term::Int(i),
        }
    }

    fn num(s: Signal) -> i64 {
        match s {
            Signal::Send {
                msg: Term::Int(i), ..
            } => i,
            _ => -1,
        }
    }

    #[test]
    fn order_batches_close_and_drop() {
        let (tx, mut rx) = signal_queue();
        assert!(rx.try_recv().is_none());
        for i in 0..3 {
            assert!(tx.send(sig(i)).is_none());
        }
        assert_eq!(rx.try_recv().map(num), Some(0));
        // Sent while a batch is being handed out: after it.
        assert!(tx.send(sig(3)).is_none());
        let got: Vec<i64> = std::iter::from_fn(|| rx.try_recv()).map(num).collect();
        assert_eq!(got, vec![1, 2, 3]);
        // Closed: queued signals still come out, new ones are refused.
        assert!(tx.send(sig(5)).is_none());
        rx.close();
        assert_eq!(tx.send(sig(6)).map(num), Some(6));
        assert_eq!(rx.try_recv().map(num), Some(5));
        assert!(rx.try_recv().is_none());
        // Dropped: refused too.
        let (tx, rx) = signal_queue();
        drop(rx);
        assert!(tx.send(sig(7)).is_some());
    }
}
