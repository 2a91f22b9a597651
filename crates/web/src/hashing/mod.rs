//! The hashing threads: bcrypt gets its own bounded pool so it can neither occupy actix's
//! async workers nor pile up an unbounded queue of waiting hashes, and the pool is shared
//! fairly between clients (an IPv4 address or an IPv6 network, see `ClientKey`), so clients
//! flooding logins cannot starve the others.
//!
//! Jobs wait in one queue per client; a thread that is free takes the next job from the clients
//! in turn (round-robin), so a job from a client that has nothing else pending waits for the
//! jobs already running plus at most one job of each other waiting client, however many the
//! flooding clients sent. Three bounds hold whatever clients send: the jobs waiting in all
//! (`queue`), the jobs one client may have waiting or running (`per_client`: beyond it that
//! client gets 429), and so the number of clients tracked, since a client is forgotten as soon
//! as it has no job waiting or running.
//!
//! When the queue is full, the job that goes is one of the client that would then hold the most
//! waiting jobs: a new job from a client with fewer waiting than the heaviest client takes the
//! place of that client's newest job (which is answered 503), and otherwise the new job itself
//! is refused (503). So a client is never turned away while it holds less than its fair share
//! of the queue (the queue divided by the clients waiting), and a few flooding clients cannot
//! fill the queue against a client that has nothing in it. Each job turned away is counted
//! (`/metrics`), and overload is logged at WARN at most once a second.

mod overload;
mod queue;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use tokio::sync::oneshot;

use crate::error::ApiError;
use overload::OverloadLog;
use queue::{Client, Job, Refused, Shared, State, Turn};

/// What `/metrics` shows of the hashing threads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct HashingStats {
    /// Jobs waiting for a thread now, all clients together.
    pub(crate) waiting: usize,
    /// New jobs refused because the queue was full (503).
    pub(crate) refused_full: u64,
    /// Waiting jobs dropped to make room for a client with fewer waiting (503).
    pub(crate) shed: u64,
    /// Jobs refused because their client had its share waiting or running (429).
    pub(crate) client_over_cap: u64,
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

impl Hashing {
    /// `threads` threads (at least 1); at most `queue` jobs waiting in all and `per_client`
    /// waiting or running per client (each at least 1).
    pub(crate) fn start(threads: usize, queue: usize, per_client: usize) -> Self {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            ready: Condvar::new(),
            queue: queue.max(1),
            per_client: per_client.max(1),
            refused_full: AtomicU64::new(0),
            shed: AtomicU64::new(0),
            client_over_cap: AtomicU64::new(0),
            overload_log: OverloadLog::default(),
        });
        for n in 0..threads.max(1) {
            let shared = Arc::clone(&shared);
            let spawned = std::thread::Builder::new()
                .name(format!("authd-hashing-{n}"))
                .spawn(move || work(&shared));
            if let Err(error) = spawned {
                tracing::error!(target: "authd::web::hashing", %error, "could not start a hashing thread");
            }
        }
        Hashing {
            handle: Arc::new(Handle { shared }),
        }
    }

    /// Queues `job` for `client` without waiting: see [`Shared::submit`].
    pub(crate) fn submit(&self, client: Client, job: Job) -> Result<(), Refused> {
        self.handle.shared.submit(client, job)
    }

    /// Runs `job` for `client` on a hashing thread. Errors: `ClientBusy` when this client has
    /// its share of jobs waiting or running, `Busy` when the queue is full (now, or later, when
    /// this job is shed for a client with fewer waiting), `Internal` when the job panicked.
    pub(crate) async fn run<T, F>(&self, client: Client, job: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move |turn| {
            let _ = done.send(match turn {
                Turn::Run => Some(job()),
                Turn::Shed => None,
            });
        });
        self.submit(client, job).map_err(|refused| match refused {
            Refused::Full => ApiError::Busy,
            Refused::ClientOverCap => ApiError::ClientBusy,
            Refused::Closed => ApiError::Internal,
        })?;
        // A job that panicked drops its sender.
        result
            .await
            .map_err(|_| ApiError::Internal)?
            .ok_or(ApiError::Busy)
    }

    /// The queue's length now and the counts of jobs turned away so far.
    pub(crate) fn stats(&self) -> HashingStats {
        let shared = &self.handle.shared;
        HashingStats {
            waiting: shared.lock().waiting,
            refused_full: shared.refused_full.load(Ordering::Relaxed),
            shed: shared.shed.load(Ordering::Relaxed),
            client_over_cap: shared.client_over_cap.load(Ordering::Relaxed),
        }
    }
}

// The threads keep normal priority (nice 0), on purpose. In the idle class (SCHED_IDLE) bcrypt
// got no CPU at all while other processes kept the cores busy: a login beside two CPU-bound
// processes took 20 times its idle time, and so did any login while this server was busy
// answering a flood. At nice 0 it takes 1.6 times, and `GET /profile`'s p99 during a login
// storm stays at 4 ms (bench/README.md, W4 and W6): the kernel still preempts bcrypt for a
// request that wakes up, and the hashing threads are never more than one per core.
fn work(shared: &Shared) {
    while let Some((client, job)) = shared.next_job() {
        if catch_unwind(AssertUnwindSafe(|| job(Turn::Run))).is_err() {
            tracing::error!(target: "authd::web::hashing", "a hashing job panicked");
        }
        shared.done(client);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::{channel, Receiver, Sender};
    use std::time::Duration;

    use super::*;
    use crate::client_ip::ClientKey;

    fn client(ip: &str) -> Client {
        Some(ClientKey::new(ip.parse().unwrap(), 64))
    }

    /// A job that reports `name` when it starts, then waits for its release; when shed, it
    /// reports `shed <name>` instead.
    fn blocking(name: &'static str, started: &Sender<String>) -> (Job, Sender<()>) {
        let (release, wait) = channel::<()>();
        let started = started.clone();
        let job: Job = Box::new(move |turn| match turn {
            Turn::Run => {
                let _ = started.send(name.to_owned());
                let _ = wait.recv();
            }
            Turn::Shed => {
                let _ = started.send(format!("shed {name}"));
            }
        });
        (job, release)
    }

    fn tracked(hashing: &Hashing) -> usize {
        hashing.handle.shared.lock().clients.len()
    }

    fn next(started: &Receiver<String>) -> String {
        started
            .recv_timeout(std::time::Duration::from_secs(10))
            .unwrap()
    }

    /// Submits a job named `name` for `ip`, keeping its release.
    fn queue(
        hashing: &Hashing,
        ip: &str,
        name: &'static str,
        started: &Sender<String>,
        releases: &mut Vec<Sender<()>>,
    ) -> Result<(), Refused> {
        let (job, release) = blocking(name, started);
        releases.push(release);
        hashing.submit(client(ip), job)
    }

    #[actix_web::test]
    async fn a_job_runs_on_a_hashing_thread_and_returns_its_value() {
        let hashing = Hashing::start(1, 1, 1);
        let name = hashing
            .run(None, || std::thread::current().name().map(str::to_owned))
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some("authd-hashing-0"));
    }

    #[actix_web::test]
    async fn a_panicking_job_is_an_internal_error_and_the_thread_survives() {
        // Room for two per client: the panicked job may still be counted when the next comes.
        let hashing = Hashing::start(1, 1, 2);
        assert!(matches!(
            hashing.run(None, || panic!("boom")).await,
            Err::<(), _>(ApiError::Internal)
        ));
        assert_eq!(hashing.run(None, || 7).await.unwrap(), 7);
    }

    #[test]
    fn a_full_queue_refuses_instead_of_growing() {
        let hashing = Hashing::start(1, 1, 10);
        let (started, starts) = channel();
        let mut releases = Vec::new();
        queue(&hashing, "10.0.0.1", "a0", &started, &mut releases).unwrap();
        assert_eq!(next(&starts), "a0");
        queue(&hashing, "10.0.0.2", "b0", &started, &mut releases).unwrap();
        // c holds as much of the queue as b would then: c's own job is refused, b keeps its.
        let refused = queue(&hashing, "10.0.0.3", "c0", &started, &mut releases);
        assert_eq!(refused, Err(Refused::Full));
        assert_eq!(hashing.stats().refused_full, 1);
        for release in releases {
            let _ = release.send(());
        }
        assert_eq!(next(&starts), "b0");
    }

    #[test]
    fn a_full_queue_sheds_the_newest_job_of_the_heaviest_client_for_a_lighter_one() {
        let hashing = Hashing::start(1, 4, 10);
        let (started, starts) = channel();
        let mut releases = Vec::new();
        queue(&hashing, "10.0.0.1", "a0", &started, &mut releases).unwrap();
        assert_eq!(next(&starts), "a0");
        // The queue is full: a1, a2, a3 and b1 wait.
        for name in ["a1", "a2", "a3"] {
            queue(&hashing, "10.0.0.1", name, &started, &mut releases).unwrap();
        }
        queue(&hashing, "10.0.0.2", "b1", &started, &mut releases).unwrap();
        // c has nothing waiting: a's newest goes; then d's comes in at the cost of a2.
        queue(&hashing, "10.0.0.3", "c1", &started, &mut releases).unwrap();
        assert_eq!(next(&starts), "shed a3");
        queue(&hashing, "10.0.0.4", "d1", &started, &mut releases).unwrap();
        assert_eq!(next(&starts), "shed a2");
        // Now each holds one job, its fair share: a fifth client is refused, nobody is shed.
        let refused = queue(&hashing, "10.0.0.5", "e1", &started, &mut releases);
        assert_eq!(refused, Err(Refused::Full));
        // Nor does a client holding a share take another's place.
        let refused = queue(&hashing, "10.0.0.2", "b2", &started, &mut releases);
        assert_eq!(refused, Err(Refused::Full));
        let stats = hashing.stats();
        assert_eq!((stats.waiting, stats.shed, stats.refused_full), (4, 2, 2));
        for release in releases {
            let _ = release.send(());
        }
        let order: Vec<_> = (0..4).map(|_| next(&starts)).collect();
        assert_eq!(order, ["a1", "b1", "c1", "d1"]);
    }

    #[actix_web::test]
    async fn a_shed_job_answers_busy_and_the_others_run() {
        let hashing = Hashing::start(1, 2, 10);
        let (started, starts) = channel();
        let mut releases = Vec::new();
        queue(&hashing, "10.0.0.1", "a0", &started, &mut releases).unwrap();
        assert_eq!(next(&starts), "a0");
        // b fills the queue with two jobs, then c comes with none: one of b's goes.
        let flood: Vec<_> = (0..2)
            .map(|n| {
                let hashing = hashing.clone();
                tokio::spawn(async move { hashing.run(client("10.0.0.2"), move || n).await })
            })
            .collect();
        let until = |done: fn(HashingStats) -> bool| {
            let hashing = hashing.clone();
            let wait = async move {
                while !done(hashing.stats()) {
                    tokio::task::yield_now().await;
                }
            };
            tokio::time::timeout(Duration::from_secs(10), wait)
        };
        until(|stats| stats.waiting == 2).await.unwrap();
        let lighter = {
            let hashing = hashing.clone();
            tokio::spawn(async move { hashing.run(client("10.0.0.3"), || 7).await })
        };
        until(|stats| stats.shed == 1).await.unwrap();
        for release in releases {
            let _ = release.send(());
        }
        assert_eq!(lighter.await.unwrap().unwrap(), 7);
        let mut answers = Vec::new();
        for task in flood {
            answers.push(task.await.unwrap());
        }
        let busy = answers
            .iter()
            .filter(|a| matches!(a, Err(ApiError::Busy)))
            .count();
        let ran = answers.iter().filter(|a| a.is_ok()).count();
        assert_eq!((busy, ran), (1, 1));
    }

    #[test]
    fn another_address_runs_before_the_rest_of_a_flood() {
        let hashing = Hashing::start(1, 64, 64);
        let (started, starts) = channel();
        let mut releases = Vec::new();
        let flood = ["a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9"];
        for name in flood {
            queue(&hashing, "10.0.0.1", name, &started, &mut releases).unwrap();
        }
        assert_eq!(next(&starts), "a0");
        queue(&hashing, "10.0.0.2", "b0", &started, &mut releases).unwrap();
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
        let mut releases = Vec::new();
        queue(&hashing, "10.0.0.1", "a0", &started, &mut releases).unwrap();
        assert_eq!(next(&starts), "a0");
        queue(&hashing, "10.0.0.1", "a1", &started, &mut releases).unwrap();
        let refused = queue(&hashing, "10.0.0.1", "a2", &started, &mut releases);
        assert_eq!(refused, Err(Refused::ClientOverCap));
        assert_eq!(hashing.stats().client_over_cap, 1);
        queue(&hashing, "10.0.0.2", "b0", &started, &mut releases).unwrap();
        for release in releases {
            let _ = release.send(());
        }
        assert_eq!(next(&starts), "a1");
        assert_eq!(next(&starts), "b0");
    }

    #[test]
    fn an_address_is_forgotten_once_its_jobs_are_done() {
        let hashing = Hashing::start(1, 8, 8);
        let (started, starts) = channel();
        let mut releases = Vec::new();
        for ip in ["10.0.0.1", "10.0.0.2"] {
            queue(&hashing, ip, "job", &started, &mut releases).unwrap();
        }
        assert_eq!(tracked(&hashing), 2);
        // The one thread runs this after it has finished (and accounted for) the two jobs.
        let shared = Arc::clone(&hashing.handle.shared);
        let (counted, count) = channel();
        let barrier: Job = Box::new(move |_| {
            let _ = counted.send(shared.lock().clients.len());
        });
        hashing.submit(client("10.0.0.3"), barrier).unwrap();
        for release in releases {
            release.send(()).unwrap();
        }
        next(&starts);
        next(&starts);
        // Only the barrier's own address, whose job is running.
        assert_eq!(
            count
                .recv_timeout(std::time::Duration::from_secs(10))
                .unwrap(),
            1
        );
    }

    #[test]
    fn the_addresses_of_one_ipv6_network_share_one_cap() {
        let hashing = Hashing::start(1, 64, 1);
        let (started, starts) = channel();
        let mut releases = Vec::new();
        queue(&hashing, "2001:db8::1", "a0", &started, &mut releases).unwrap();
        let refused = queue(&hashing, "2001:db8::ffff:2", "a1", &started, &mut releases);
        assert_eq!(refused, Err(Refused::ClientOverCap));
        queue(&hashing, "2001:db8:0:1::1", "b0", &started, &mut releases).unwrap();
        for release in releases {
            let _ = release.send(());
        }
        assert_eq!(next(&starts), "a0");
        assert_eq!(next(&starts), "b0");
    }

    #[test]
    fn overload_is_a_warning_and_the_503_it_answers_logs_no_error() {
        #[derive(Clone, Default)]
        struct Captured(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Captured {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let hashing = Hashing::start(1, 1, 10);
        let (started, starts) = channel();
        let mut releases = Vec::new();
        queue(&hashing, "10.0.0.1", "a0", &started, &mut releases).unwrap();
        assert_eq!(next(&starts), "a0");
        queue(&hashing, "10.0.0.2", "b0", &started, &mut releases).unwrap();
        tracing::subscriber::with_default(subscriber, || {
            let refused = queue(&hashing, "10.0.0.3", "c0", &started, &mut releases);
            assert_eq!(refused, Err(Refused::Full));
            let answer = actix_web::ResponseError::error_response(&ApiError::Busy);
            assert_eq!(answer.status(), 503);
        });
        for release in releases {
            let _ = release.send(());
        }
        let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = log.lines().collect();
        assert_eq!(lines.len(), 1, "{log}");
        assert!(lines[0].contains(" WARN "), "{log}");
        assert!(lines[0].contains("hashing queue full"), "{log}");
        assert!(lines[0].contains("turned_away=1"), "{log}");
    }
}
