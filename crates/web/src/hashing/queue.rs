//! The queue the hashing threads take jobs from: one queue per client, taken in turn, with
//! the bounds and the shedding the module documentation describes.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

use super::overload::OverloadLog;
use crate::client_ip::ClientKey;

/// Whose job it is: `None` when the client address is unknown (all such jobs share one turn).
pub(crate) type Client = Option<ClientKey>;

/// What a queued job is told: run now, or it was shed from a full queue (its caller answers
/// 503). Called exactly once either way, outside the queue's lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Turn {
    Run,
    Shed,
}

pub(crate) type Job = Box<dyn FnOnce(Turn) + Send>;

/// Why a job was not queued.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The queue shared by all clients is full, and this client would hold the most of it.
    Full,
    /// This client already has `per_client` jobs waiting or running.
    ClientOverCap,
    /// The threads are gone.
    Closed,
}

pub(super) struct Shared {
    pub(super) state: Mutex<State>,
    /// Signalled when a job is queued or the queue closes.
    pub(super) ready: Condvar,
    pub(super) queue: usize,
    pub(super) per_client: usize,
    pub(super) refused_full: AtomicU64,
    pub(super) shed: AtomicU64,
    pub(super) client_over_cap: AtomicU64,
    pub(super) overload_log: OverloadLog,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("queue", &self.queue)
            .field("per_client", &self.per_client)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
pub(super) struct State {
    /// Every client with an entry here has a job waiting or running; none other has one.
    pub(super) clients: HashMap<Client, Pending>,
    /// The clients with a job waiting, each once, in the order they get their next turn.
    pub(super) turns: VecDeque<Client>,
    /// Jobs waiting, all clients together.
    pub(super) waiting: usize,
    pub(super) closed: bool,
}

#[derive(Default)]
pub(super) struct Pending {
    pub(super) waiting: VecDeque<Job>,
    pub(super) running: usize,
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        // A job never runs under the lock, so a poisoned lock still holds consistent state.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Counts a job turned away for a full queue and logs, at most once a second, how many
    /// were since the last line.
    pub(super) fn overloaded(&self, counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
        if let Some(turned_away) = self.overload_log.note(Instant::now()) {
            tracing::warn!(target: "authd::web::hashing::queue",
                turned_away,
                queue = self.queue,
                "hashing queue full: requests answered 503 (the heaviest clients' newest jobs \
                 go first); see authd_hashing_refused_total"
            );
        }
    }

    /// Queues `job` for `client` without waiting. When the queue is full, either `job` is
    /// refused (`Full`: `client` would hold the most waiting jobs) or the newest waiting job of
    /// the client holding the most is shed to make room (told `Turn::Shed`).
    pub(super) fn submit(&self, client: Client, job: Job) -> Result<(), Refused> {
        let shared = self;
        let mut state = shared.lock();
        if state.closed {
            return Err(Refused::Closed);
        }
        let (waiting, running) = state
            .clients
            .get(&client)
            .map_or((0, 0), |p| (p.waiting.len(), p.running));
        if waiting + running >= shared.per_client {
            drop(state);
            shared.client_over_cap.fetch_add(1, Ordering::Relaxed);
            return Err(Refused::ClientOverCap);
        }
        let mut shed = None;
        if state.waiting >= shared.queue {
            // The heaviest client holds at least the average, so at least its fair share; it
            // loses a job only if it would still hold more than `client` once this one is in.
            let heaviest = state
                .clients
                .iter_mut()
                .max_by_key(|(_, pending)| pending.waiting.len())
                .filter(|(_, pending)| pending.waiting.len() > waiting + 1)
                .and_then(|(_, pending)| pending.waiting.pop_back());
            match heaviest {
                Some(job) => {
                    // Its client keeps at least one job waiting, so its turn stays valid.
                    state.waiting -= 1;
                    shed = Some(job);
                }
                None => {
                    drop(state);
                    shared.overloaded(&shared.refused_full);
                    return Err(Refused::Full);
                }
            }
        }
        let pending = state.clients.entry(client).or_default();
        pending.waiting.push_back(job);
        if pending.waiting.len() == 1 {
            state.turns.push_back(client);
        }
        state.waiting += 1;
        drop(state);
        shared.ready.notify_one();
        if let Some(job) = shed {
            job(Turn::Shed);
            shared.overloaded(&shared.shed);
        }
        Ok(())
    }

    /// `client`'s job ended: it is forgotten once it has none waiting or running.
    pub(super) fn done(&self, client: Client) {
        let mut state = self.lock();
        if let Some(pending) = state.clients.get_mut(&client) {
            pending.running -= 1;
            if pending.running == 0 && pending.waiting.is_empty() {
                state.clients.remove(&client);
            }
        }
    }

    /// Waits for the next job, taking clients in turn; `None` once the queue is closed and empty.
    pub(super) fn next_job(&self) -> Option<(Client, Job)> {
        let shared = self;
        let mut state = shared.lock();
        loop {
            if let Some(client) = state.turns.pop_front() {
                // Every client in `turns` has a job waiting; skip one that somehow does not.
                let Some(pending) = state.clients.get_mut(&client) else {
                    continue;
                };
                let Some(job) = pending.waiting.pop_front() else {
                    continue;
                };
                pending.running += 1;
                let more = !pending.waiting.is_empty();
                state.waiting -= 1;
                if more {
                    state.turns.push_back(client);
                }
                return Some((client, job));
            }
            if state.closed {
                return None;
            }
            state = shared
                .ready
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }
}
