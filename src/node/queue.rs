//! The queue of signals waiting for a connection: many senders, one
//! connection task, in order.
//!
//! A mutex-protected deque that the connection task takes whole: a sender
//! appends under a short lock (and wakes the task only when the queue was
//! empty), and the task swaps the shared deque with its own empty one, so
//! it locks once per batch rather than once per signal. A `Signal` is a few
//! hundred bytes (its largest variant); a general channel moved it several
//! times per message and allocated a block per 32 slots, which a stream of
//! small messages paid for in copies and page faults.
//!
//! The semantics are those of an unbounded channel: sends fail once the
//! receiver is closed or dropped, and a closed receiver still hands out
//! what was queued before.

use crate::dist::Signal;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

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
    /// Wakes the receiver when the queue stops being empty.
    ready: Notify,
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
        ready: Notify::new(),
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
        let was_empty = st.items.is_empty();
        st.items.push_back(sig);
        drop(st);
        if was_empty {
            self.shared.ready.notify_one();
        }
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

    /// Waits for the next signal; `None` once the queue is closed and
    /// empty. Cancel-safe: a signal is only taken when it is returned.
    pub(crate) async fn recv(&mut self) -> Option<Signal> {
        let shared = self.shared.clone();
        loop {
            // Made before the check, so a send between the check and the
            // wait is not missed (it leaves a permit if nobody waits yet).
            let ready = shared.ready.notified();
            if let Some(sig) = self.try_recv() {
                return Some(sig);
            }
            if shared.lock().closed {
                return None;
            }
            ready.await;
        }
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

    #[tokio::test]
    async fn order_batches_close_and_drop() {
        let (tx, mut rx) = signal_queue();
        assert!(rx.try_recv().is_none());
        for i in 0..3 {
            assert!(tx.send(sig(i)).is_none());
        }
        assert_eq!(num(rx.recv().await.unwrap()), 0);
        // Sent while a batch is being handed out: after it.
        assert!(tx.send(sig(3)).is_none());
        let got: Vec<i64> = std::iter::from_fn(|| rx.try_recv()).map(num).collect();
        assert_eq!(got, vec![1, 2, 3]);
        // A waiting receiver is woken by a send from another task.
        let tx = Arc::new(tx);
        let t2 = tx.clone();
        let h = tokio::spawn(async move {
            tokio::task::yield_now().await;
            assert!(t2.send(sig(4)).is_none());
        });
        assert_eq!(num(rx.recv().await.unwrap()), 4);
        h.await.unwrap();
        // Closed: queued signals still come out, new ones are refused.
        assert!(tx.send(sig(5)).is_none());
        rx.close();
        assert_eq!(tx.send(sig(6)).map(num), Some(6));
        assert_eq!(num(rx.recv().await.unwrap()), 5);
        assert!(rx.recv().await.is_none());
        // Dropped: refused too.
        let (tx, rx) = signal_queue();
        drop(rx);
        assert!(tx.send(sig(7)).is_some());
    }
}
