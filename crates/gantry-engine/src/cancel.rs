//! Cancellation with escalation, as nextest does it: the first request stops running
//! steps gracefully (SIGTERM, then SIGKILL after the grace period) and lets `always()`
//! steps run; a second request forces (SIGKILL now, no more steps).

use std::sync::Arc;

use tokio::sync::watch;

/// How far cancellation has gone. Levels only rise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CancelLevel {
    /// Not cancelled.
    None,
    /// Stop gracefully; `always()`/`cancelled()` steps still run.
    Graceful,
    /// Stop now; nothing more runs, environments are torn down.
    Force,
}

/// Why a job or run was cancelled, in the order a user cares about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelReason {
    /// Ctrl-C or SIGTERM.
    Interrupted,
    /// The job's `timeout-minutes` passed.
    JobTimeout(u64),
    /// Another matrix instance failed with `fail-fast`.
    FailFast(String),
    /// Something outside the workflow broke that the run cannot go on without (its
    /// logs or ledger cannot be written: a full disk), or gantry itself failed. Steps it
    /// stops, their jobs and the run end as failures, not cancellations; `always()` steps
    /// still run.
    Fault(String),
}

impl CancelReason {
    /// Whether what this stops counts as failed (a timeout, a fault) rather than
    /// cancelled.
    pub fn is_failure(&self) -> bool {
        matches!(self, CancelReason::JobTimeout(_) | CancelReason::Fault(_))
    }
}

impl std::fmt::Display for CancelReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CancelReason::Interrupted => f.write_str("the run was cancelled"),
            CancelReason::JobTimeout(m) => write!(f, "the job exceeded its timeout of {m} minutes"),
            CancelReason::FailFast(other) => {
                write!(f, "cancelled because `{other}` failed (fail-fast)")
            }
            CancelReason::Fault(why) => f.write_str(why),
        }
    }
}

/// A cancellation signal that can be raised and watched; cheap to clone.
#[derive(Debug, Clone)]
pub struct CancelSignal {
    tx: Arc<watch::Sender<(CancelLevel, Option<CancelReason>)>>,
}

impl Default for CancelSignal {
    fn default() -> Self {
        Self::new()
    }
}

impl CancelSignal {
    /// A signal not raised yet.
    pub fn new() -> Self {
        let (tx, _) = watch::channel((CancelLevel::None, None));
        CancelSignal { tx: Arc::new(tx) }
    }

    /// Raises to `level` (never lowers), recording the first reason given.
    pub fn raise(&self, level: CancelLevel, reason: CancelReason) {
        self.tx.send_if_modified(|(cur, why)| {
            if level > *cur {
                *cur = level;
                if why.is_none() {
                    *why = Some(reason);
                }
                true
            } else {
                false
            }
        });
    }

    /// First call cancels gracefully, later calls force. Returns the new level.
    pub fn escalate(&self, reason: CancelReason) -> CancelLevel {
        let next = match self.level() {
            CancelLevel::None => CancelLevel::Graceful,
            _ => CancelLevel::Force,
        };
        self.raise(next, reason);
        self.level()
    }

    /// How far cancellation has gone.
    pub fn level(&self) -> CancelLevel {
        self.tx.borrow().0
    }

    /// The first reason given, once raised.
    pub fn reason(&self) -> Option<CancelReason> {
        self.tx.borrow().1.clone()
    }

    /// Whether it was raised at all.
    pub fn is_cancelled(&self) -> bool {
        self.level() > CancelLevel::None
    }

    /// A receiver that wakes on every raise.
    pub fn subscribe(&self) -> watch::Receiver<(CancelLevel, Option<CancelReason>)> {
        self.tx.subscribe()
    }

    /// A signal raised whenever this one is (and independently raisable), for jobs.
    pub fn child(&self) -> CancelSignal {
        let child = CancelSignal::new();
        let forward = child.clone();
        let mut rx = self.subscribe();
        let initial = rx.borrow().clone();
        if let (level, Some(reason)) = initial {
            forward.raise(level, reason);
        }
        tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                let (level, reason) = rx.borrow_and_update().clone();
                if let Some(reason) = reason {
                    forward.raise(level, reason);
                }
                if level == CancelLevel::Force {
                    break;
                }
            }
        });
        child
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn escalates_and_forwards_to_children() {
        let run = CancelSignal::new();
        let job = run.child();
        assert_eq!(
            run.escalate(CancelReason::Interrupted),
            CancelLevel::Graceful
        );
        let mut rx = job.subscribe();
        while rx.borrow().0 != CancelLevel::Graceful {
            rx.changed().await.unwrap();
        }
        assert_eq!(run.escalate(CancelReason::Interrupted), CancelLevel::Force);
        while rx.borrow().0 != CancelLevel::Force {
            rx.changed().await.unwrap();
        }
        assert_eq!(job.reason(), Some(CancelReason::Interrupted));
    }

    #[test]
    fn never_lowers() {
        let s = CancelSignal::new();
        s.raise(CancelLevel::Force, CancelReason::Interrupted);
        s.raise(CancelLevel::Graceful, CancelReason::JobTimeout(1));
        assert_eq!(s.level(), CancelLevel::Force);
        assert_eq!(s.reason(), Some(CancelReason::Interrupted));
    }
}
