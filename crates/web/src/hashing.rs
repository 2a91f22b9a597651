//! The hashing threads: bcrypt gets its own bounded pool so it can neither occupy actix's
//! async workers nor pile up an unbounded queue of waiting hashes.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::ApiError;

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of threads fed by a bounded queue. Threads end when the last handle goes.
#[derive(Clone, Debug)]
pub(crate) struct Hashing {
    queue: SyncSender<Job>,
}

impl Hashing {
    pub(crate) fn start(threads: usize, queue: usize) -> Self {
        let (sender, receiver) = sync_channel::<Job>(queue.max(1));
        let receiver = Arc::new(Mutex::new(receiver));
        for n in 0..threads.max(1) {
            let receiver = Arc::clone(&receiver);
            let spawned = std::thread::Builder::new()
                .name(format!("authd-hashing-{n}"))
                .spawn(move || work(&receiver));
            if let Err(error) = spawned {
                tracing::error!(%error, "could not start a hashing thread");
            }
        }
        Hashing { queue: sender }
    }

    /// Runs `job` on a hashing thread. Errors: `Busy` when the queue is full, `Internal` when
    /// the job panicked.
    pub(crate) async fn run<T, F>(&self, job: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(job());
        });
        self.queue.try_send(job).map_err(|e| match e {
            TrySendError::Full(_) => ApiError::Busy,
            TrySendError::Disconnected(_) => ApiError::Internal,
        })?;
        result.await.map_err(|_| ApiError::Internal)
    }
}

fn work(receiver: &Mutex<Receiver<Job>>) {
    lower_priority();
    loop {
        // The lock is held only while waiting for the next job, never while running one.
        let job = match receiver.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        if catch_unwind(AssertUnwindSafe(job)).is_err() {
            tracing::error!("a hashing job panicked");
        }
    }
}

/// Puts this thread in the idle scheduling class where the OS has one: bcrypt then takes all
/// the CPU nobody else wants, and the async workers answering cheap requests never wait for it.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        use thread_priority::unix::{
            set_thread_priority_and_policy, thread_native_id, NormalThreadSchedulePolicy,
            ThreadSchedulePolicy,
        };
        use thread_priority::ThreadPriority;
        let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
        if let Err(error) =
            set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, idle)
        {
            tracing::warn!(?error, "hashing thread keeps normal priority");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn a_job_runs_on_a_hashing_thread_and_returns_its_value() {
        let hashing = Hashing::start(1, 1);
        let name = hashing
            .run(|| std::thread::current().name().map(str::to_owned))
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some("authd-hashing-0"));
    }

    #[actix_web::test]
    async fn a_panicking_job_is_an_internal_error_and_the_thread_survives() {
        let hashing = Hashing::start(1, 1);
        assert!(matches!(
            hashing.run(|| panic!("boom")).await,
            Err::<(), _>(ApiError::Internal)
        ));
        assert_eq!(hashing.run(|| 7).await.unwrap(), 7);
    }

    #[actix_web::test]
    async fn a_full_queue_answers_busy_instead_of_growing() {
        let hashing = Hashing::start(1, 1);
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let blocked = hashing.clone().run_owned(move || wait.recv().ok());
        let blocked = actix_web::rt::spawn(blocked);
        // Give the thread time to take the first job, then fill the one queue slot.
        actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
        let queued = actix_web::rt::spawn(hashing.clone().run_owned(|| 1));
        actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(matches!(hashing.run(|| 2).await, Err(ApiError::Busy)));
        release.send(()).unwrap();
        assert!(blocked.await.unwrap().is_ok());
        assert_eq!(queued.await.unwrap().unwrap(), 1);
    }

    impl Hashing {
        async fn run_owned<T: Send + 'static>(
            self,
            job: impl FnOnce() -> T + Send + 'static,
        ) -> Result<T, ApiError> {
            self.run(job).await
        }
    }
}
