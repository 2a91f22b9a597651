//! The hashing threads: bcrypt gets its own bounded pool so it can neither occupy actix's
//! async workers nor pile up an unbounded queue of waiting hashes, and the pool is shared
//! fairly between client addresses, so one client flooding logins cannot starve the others.
//!
//! Jobs wait in one queue per client address; a thread that is free takes the next job from
//! the addresses in turn (round-robin), so a job from an address that has nothing else pending
//! waits for the jobs already running plus at most one job of each other waiting address, however
//! many the flooding address sent. Three bounds hold whatever clients send: the jobs waiting in
//! all (`queue`: beyond it every request gets 503), the jobs one address may have waiting or
//! running (`per_client`: beyond it that address gets 429), and so the number of addresses
//! tracked, since an address is forgotten as soon as it has no job waiting or running.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use tokio::sync::oneshot;

use crate::ApiError;

type Job = Box<dyn FnOnce() + Send>;

/// Whose job it is: the client address, IPv6 taken as its /64 (one subscriber's usual share,
/// which a client can walk through at will), IPv4-mapped IPv6 as the IPv4 address. `None`: no
/// address known (all such jobs share one turn).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Client(Option<IpAddr>);

impl Client {
    pub(crate) fn of(ip: Option<IpAddr>) -> Self {
        Client(ip.map(|ip| match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let mut segments = v6.segments();
                    segments[4..].fill(0);
                    IpAddr::V6(segments.into())
                }
            },
            v4 => v4,
        }))
    }
}

/// Why a job was not queued.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The queue shared by all clients is full.
    Full,
    /// This client already has `per_client` jobs waiting or running.
    ClientOverCap,
    /// The threads are gone.
    Closed,
}

/// A fixed set of threads fed by per-client queues. Threads end when the last handle goes.
#[derive(Clone, Debug)]
pub(crate) struct Hashing {
    handle: Arc<Handle>,
}

/// Closes the queue when the last `Hashing` clone is dropped.
#[derive(Debug)]
struct Handle {
    shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.ready.notify_all();
    }
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when a job is queued or the queue closes.
    ready: Condvar,
    queue: usize,
    per_client: usize,
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
struct State {
    /// Every client with an entry here has a job waiting or running; none other has one.
    clients: HashMap<Client, Pending>,
    /// The clients with a job waiting, each once, in the order they get their next turn.
    turns: VecDeque<Client>,
    /// Jobs waiting, all clients together.
    waiting: usize,
    closed: bool,
}

#[derive(Default)]
struct Pending {
    waiting: VecDeque<Job>,
    running: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A job never runs under the lock, so a poisoned lock still holds consistent state.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Hashing {
    /// `threads` threads (at least 1); at most `queue` jobs waiting in all and `per_client`
    /// waiting or running per client (each at least 1).
    pub(crate) fn start(threads: usize, queue: usize, per_client: usize) -> Self {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            ready: Condvar::new(),
            queue: queue.max(1),
            per_client: per_client.max(1),
        });
        for n in 0..threads.max(1) {
            let shared = Arc::clone(&shared);
            let spawned = std::thread::Builder::new()
                .name(format!("authd-hashing-{n}"))
                .spawn(move || work(&shared));
            if let Err(error) = spawned {
                tracing::error!(%error, "could not start a hashing thread");
            }
        }
        Hashing {
            handle: Arc::new(Handle { shared }),
        }
    }

    /// Queues `job` for `client` without waiting.
    pub(crate) fn submit(&self, client: Client, job: Job) -> Result<(), Refused> {
        let shared = &self.handle.shared;
        let mut state = shared.lock();
        if state.closed {
            return Err(Refused::Closed);
        }
        let in_flight = state
            .clients
            .get(&client)
            .map_or(0, |p| p.waiting.len() + p.running);
        if in_flight >= shared.per_client {
            return Err(Refused::ClientOverCap);
        }
        if state.waiting >= shared.queue {
            return Err(Refused::Full);
        }
        let pending = state.clients.entry(client).or_default();
        pending.waiting.push_back(job);
        if pending.waiting.len() == 1 {
            state.turns.push_back(client);
        }
        state.waiting += 1;
        drop(state);
        shared.ready.notify_one();
        Ok(())
    }

    /// Runs `job` for `client` on a hashing thread. Errors: `ClientBusy` when this client has
    /// its share of jobs waiting or running, `Busy` when the queue is full, `Internal` when the
    /// job panicked.
    pub(crate) async fn run<T, F>(&self, client: Client, job: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(job());
        });
        self.submit(client, job).map_err(|refused| match refused {
            Refused::Full => ApiError::Busy,
            Refused::ClientOverCap => ApiError::ClientBusy,
            Refused::Closed => ApiError::Internal,
        })?;
        result.await.map_err(|_| ApiError::Internal)
    }
}

// The threads keep normal priority (nice 0), on purpose. In the idle class (SCHED_IDLE) bcrypt
// got no CPU at all while other processes kept the cores busy: a login beside two CPU-bound
// processes took 20 times its idle time, and so did any login while this server was busy
// answering a flood. At nice 0 it takes 1.6 times, and `GET /profile`'s p99 during a login
// storm stays at 4 ms (bench/README.md, W4 and W6): the kernel still preempts bcrypt for a
// request that wakes up, and the hashing threads are never more than one per core.
fn work(shared: &Shared) {
    while let Some((client, job)) = next_job(shared) {
        if catch_unwind(AssertUnwindSafe(job)).is_err() {
            tracing::error!("a hashing job panicked");
        }
        let mut state = shared.lock();
        if let Some(pending) = state.clients.get_mut(&client) {
            pending.running -= 1;
            if pending.running == 0 && pending.waiting.is_empty() {
                state.clients.remove(&client);
            }
        }
    }
}

/// Waits for the next job, taking clients in turn; `None` once the queue is closed and empty.
fn next_job(shared: &Shared) -> Option<(Client, Job)> {
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

#[cfg(test)]
mod tests {
    use std::sync::mpsc::{channel, Receiver, Sender};

    use super::*;

    fn client(ip: &str) -> Client {
        Client::of(Some(ip.parse().unwrap()))
    }

    /// A job that reports `name` when it starts, then waits for its release.
    fn blocking(name: &'static str, started: &Sender<&'static str>) -> (Job, Sender<()>) {
        let (release, wait) = channel::<()>();
        let started = started.clone();
        let job: Job = Box::new(move || {
            let _ = started.send(name);
            let _ = wait.recv();
        });
        (job, release)
    }

    fn tracked(hashing: &Hashing) -> usize {
        hashing.handle.shared.lock().clients.len()
    }

    fn next(started: &Receiver<&'static str>) -> &'static str {
        started
            .recv_timeout(std::time::Duration::from_secs(10))
            .unwrap()
    }

    #[actix_web::test]
    async fn a_job_runs_on_a_hashing_thread_and_returns_its_value() {
        let hashing = Hashing::start(1, 1, 1);
        let name = hashing
            .run(Client::of(None), || {
                std::thread::current().name().map(str::to_owned)
            })
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some("authd-hashing-0"));
    }

    #[actix_web::test]
    async fn a_panicking_job_is_an_internal_error_and_the_thread_survives() {
        // Room for two per client: the panicked job may still be counted when the next comes.
        let hashing = Hashing::start(1, 1, 2);
        assert!(matches!(
            hashing.run(Client::of(None), || panic!("boom")).await,
            Err::<(), _>(ApiError::Internal)
        ));
        assert_eq!(hashing.run(Client::of(None), || 7).await.unwrap(), 7);
    }

    #[test]
    fn a_full_queue_refuses_instead_of_growing() {
        let hashing = Hashing::start(1, 1, 10);
        let (started, starts) = channel();
        let (job, release) = blocking("a0", &started);
        hashing.submit(client("10.0.0.1"), job).unwrap();
        assert_eq!(next(&starts), "a0");
        let (job, release_queued) = blocking("b0", &started);
        hashing.submit(client("10.0.0.2"), job).unwrap();
        let (job, _) = blocking("c0", &started);
        assert_eq!(hashing.submit(client("10.0.0.3"), job), Err(Refused::Full));
        release.send(()).unwrap();
        assert_eq!(next(&starts), "b0");
        release_queued.send(()).unwrap();
    }

    #[test]
    fn another_address_runs_before_the_rest_of_a_flood() {
        let hashing = Hashing::start(1, 64, 64);
        let (started, starts) = channel();
        let mut releases = Vec::new();
        let flood = ["a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9"];
        for name in flood {
            let (job, release) = blocking(name, &started);
            hashing.submit(client("10.0.0.1"), job).unwrap();
            releases.push(release);
        }
        assert_eq!(next(&starts), "a0");
        let (job, release) = blocking("b0", &started);
        hashing.submit(client("10.0.0.2"), job).unwrap();
        releases.push(release);
        for release in releases {
            release.send(()).unwrap();
        }
        let order: Vec<_> = (0..10).map(|_| next(&starts)).collect();
        // a0 was running and a1 had the next turn; then b0, ahead of the other eight.
        assert_eq!(order[..3], ["a1", "b0", "a2"]);
    }

    #[test]
    fn an_address_over_its_cap_is_refused_while_another_is_accepted() {
        let hashing = Hashing::start(1, 64, 2);
        let (started, starts) = channel();
        let (job, release_a0) = blocking("a0", &started);
        hashing.submit(client("10.0.0.1"), job).unwrap();
        assert_eq!(next(&starts), "a0");
        let (job, release_a1) = blocking("a1", &started);
        hashing.submit(client("10.0.0.1"), job).unwrap();
        let (job, _) = blocking("a2", &started);
        assert_eq!(
            hashing.submit(client("10.0.0.1"), job),
            Err(Refused::ClientOverCap)
        );
        let (job, release_b0) = blocking("b0", &started);
        hashing.submit(client("10.0.0.2"), job).unwrap();
        release_a0.send(()).unwrap();
        assert_eq!(next(&starts), "a1");
        release_a1.send(()).unwrap();
        assert_eq!(next(&starts), "b0");
        release_b0.send(()).unwrap();
    }

    #[test]
    fn an_address_is_forgotten_once_its_jobs_are_done() {
        let hashing = Hashing::start(1, 8, 8);
        let (started, starts) = channel();
        let mut releases = Vec::new();
        for ip in ["10.0.0.1", "10.0.0.2"] {
            let (job, release) = blocking("job", &started);
            hashing.submit(client(ip), job).unwrap();
            releases.push(release);
        }
        assert_eq!(tracked(&hashing), 2);
        // The one thread runs this after it has finished (and accounted for) the two jobs.
        let shared = Arc::clone(&hashing.handle.shared);
        let (counted, count) = channel();
        let barrier: Job = Box::new(move || {
            let _ = counted.send(shared.lock().clients.len());
        });
        hashing.submit(client("10.0.0.3"), barrier).unwrap();
        for release in releases {
            release.send(()).unwrap();
        }
        next(&starts);
        next(&starts);
        // Only the barrier's own address, whose job is running.
        assert_eq!(count.recv().unwrap(), 1);
    }

    #[test]
    fn ipv6_addresses_of_one_slash_64_are_one_client() {
        assert_eq!(client("2001:db8::1"), client("2001:db8::ffff:1"));
        assert_ne!(client("2001:db8::1"), client("2001:db8:0:1::1"));
        assert_eq!(client("::ffff:10.0.0.1"), client("10.0.0.1"));
    }
}
