//! Where password hashes are computed: a few threads of their own, so at
//! most that many run at once. Each argon2 hash holds 19 MiB while it runs;
//! on tokio's blocking pool a burst of logins ran one per request, and each
//! new thread's malloc arena kept its share afterwards: 80 logins, 8 at a
//! time, took the process from 18 MB to 930 MB (measured by the soak).
//!
//! Logins beyond the threads wait their turn, but only so many: an
//! unbounded queue let 100 abandoned registrations push the next login from
//! 21 ms to 453 ms. A [`Hasher`] admits at most PASSWORD_HASH_QUEUE jobs
//! beyond the threads and refuses the rest ([`AppError::Busy`], a 503 with
//! `Retry-After`), and a job whose caller has gone (the client hung up) is
//! skipped rather than run for nobody.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use crate::error::AppError;

/// The threads are shared by every [`Hasher`] of the process (tests run
/// many apps in one); each hasher bounds its own queue.
static POOL: LazyLock<rayon::ThreadPool> = LazyLock::new(|| {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).min(4);
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("password-hash-{i}"))
        // Without a handler a panicking job aborts the process; with one, its
        // caller sees the channel closed and answers 500.
        .panic_handler(|_| tracing::error!("a password hash panicked"))
        .build()
        .expect("password hashing threads start")
});

/// What a refused caller is told to wait: a queue's worth of hashes takes
/// well under a second.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

/// One app's queue for the hashing threads ([`run`] takes a place in it).
/// Clones share the queue.
#[derive(Clone, Debug)]
pub struct Hasher(Arc<Queue>);

#[derive(Debug)]
struct Queue {
    /// Jobs admitted at once: one per thread, plus the queue.
    limit: usize,
    /// Jobs admitted and not yet finished (or skipped).
    admitted: AtomicUsize,
    /// Jobs skipped because their caller had gone.
    skipped: AtomicU64,
}

impl Hasher {
    /// A hasher that lets `queue` jobs wait beyond the running ones.
    pub fn new(queue: usize) -> Self {
        Hasher(Arc::new(Queue {
            limit: POOL.current_num_threads() + queue,
            admitted: AtomicUsize::new(0),
            skipped: AtomicU64::new(0),
        }))
    }

    /// Jobs admitted and not yet over.
    pub fn admitted(&self) -> usize {
        self.0.admitted.load(Ordering::Relaxed)
    }

    /// Jobs skipped so far because their caller had gone.
    pub fn skipped(&self) -> u64 {
        self.0.skipped.load(Ordering::Relaxed)
    }
}

/// Runs `work` (a hash or a verification) on the hashing threads, or
/// refuses with [`AppError::Busy`] when `hasher`'s queue is full.
pub async fn run<T: Send + 'static>(hasher: &Hasher, work: impl FnOnce() -> T + Send + 'static) -> Result<T, AppError> {
    let Some(slot) = Slot::take(&hasher.0) else {
        metrics::counter!("storefront_password_hash_refused_total").increment(1);
        return Err(AppError::Busy(RETRY_AFTER));
    };
    let (done, result) = tokio::sync::oneshot::channel();
    POOL.spawn(move || {
        // Held until the job is over, whether it runs, is skipped or panics.
        let slot = slot;
        if done.is_closed() {
            slot.0.skipped.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("storefront_password_hash_skipped_total").increment(1);
            return;
        }
        let value = work();
        // Given back before the caller hears, so a caller that goes on to
        // the next job finds the place free.
        drop(slot);
        // The caller may have gone while the work ran; nothing to tell then.
        let _ = done.send(value);
    });
    result.await.map_err(|_| AppError::Internal("password hashing stopped".into()))
}

/// One admitted job's place in the queue, given back on drop.
struct Slot(Arc<Queue>);

impl Slot {
    fn take(queue: &Arc<Queue>) -> Option<Slot> {
        queue
            .admitted
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < queue.limit).then_some(n + 1))
            .ok()
            .map(|_| Slot(queue.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.admitted.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::{Hasher, POOL, run};
    use crate::error::AppError;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn no_more_than_the_pool_hash_at_once() {
        let hasher = Hasher::new(64);
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let jobs = (0..32).map(|_| {
            let (running, most) = (running.clone(), most.clone());
            run(&hasher, move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(5));
                running.fetch_sub(1, Ordering::SeqCst);
            })
        });
        for done in futures_util::future::join_all(jobs).await {
            done.expect("the job ran");
        }
        assert!(most.load(Ordering::SeqCst) <= POOL.current_num_threads());
        assert!(POOL.current_num_threads() <= 4);
    }

    #[tokio::test]
    async fn a_panicking_job_is_an_error_not_an_abort() {
        let hasher = Hasher::new(1);
        let outcome = run(&hasher, || -> u8 { panic!("boom") }).await;
        assert!(outcome.is_err());
        assert_eq!(run(&hasher, || 7).await.ok(), Some(7), "the pool still works");
        assert_eq!(hasher.admitted(), 0, "the panicked job gave its place back");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn beyond_the_queue_jobs_are_refused_and_places_come_back() {
        let hasher = Hasher::new(2);
        let limit = POOL.current_num_threads() + 2;
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let gate = Arc::new(std::sync::Mutex::new(gate));
        // Jobs that hold their place until released.
        let held: Vec<_> = (0..limit)
            .map(|_| {
                let gate = gate.clone();
                tokio::spawn({
                    let hasher = hasher.clone();
                    async move { run(&hasher, move || gate.lock().unwrap().recv().ok()).await }
                })
            })
            .collect();
        while hasher.admitted() < limit {
            tokio::task::yield_now().await;
        }
        match run(&hasher, || ()).await {
            Err(AppError::Busy(wait)) => assert_eq!(wait, super::RETRY_AFTER),
            other => panic!("expected Busy, got {other:?}"),
        }
        for _ in 0..limit {
            release.send(()).unwrap();
        }
        for job in held {
            job.await.unwrap().expect("admitted jobs run");
        }
        assert_eq!(hasher.admitted(), 0);
        assert!(run(&hasher, || ()).await.is_ok(), "room again");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_job_whose_caller_has_gone_is_skipped() {
        let hasher = Hasher::new(8);
        let ran = Arc::new(AtomicUsize::new(0));
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let gate = Arc::new(std::sync::Mutex::new(gate));
        // Occupy every thread, so the next jobs wait in the queue.
        let busy: Vec<_> = (0..POOL.current_num_threads())
            .map(|_| {
                let (hasher, gate) = (hasher.clone(), gate.clone());
                tokio::spawn(async move { run(&hasher, move || gate.lock().unwrap().recv().ok()).await })
            })
            .collect();
        while hasher.admitted() < POOL.current_num_threads() {
            tokio::task::yield_now().await;
        }
        for _ in 0..4 {
            let ran = ran.clone();
            // Given up on before a thread is free.
            let abandoned = run(&hasher, move || ran.fetch_add(1, Ordering::SeqCst));
            let _ = tokio::time::timeout(Duration::from_millis(1), abandoned).await;
        }
        for _ in 0..POOL.current_num_threads() {
            release.send(()).unwrap();
        }
        for job in busy {
            job.await.unwrap().unwrap();
        }
        while hasher.admitted() > 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(ran.load(Ordering::SeqCst), 0, "no abandoned job ran");
        assert_eq!(hasher.skipped(), 4);
    }
}
