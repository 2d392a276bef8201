//! Where password hashes are computed: a few threads of their own, so at
//! most that many run at once. Each argon2 hash holds 19 MiB while it runs;
//! on tokio's blocking pool a burst of logins ran one per request, and each
//! new thread's malloc arena kept its share afterwards: 80 logins, 8 at a
//! time, took the process from 18 MB to 930 MB (measured by the soak).
//! Logins beyond the limit wait their turn instead.

use std::sync::LazyLock;

use crate::error::AppError;

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

/// Runs `work` (a hash or a verification) on the hashing threads.
pub async fn run<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, AppError> {
    let (done, result) = tokio::sync::oneshot::channel();
    POOL.spawn(move || {
        // The caller may have gone (the client hung up); nothing to tell.
        let _ = done.send(work());
    });
    result.await.map_err(|_| AppError::Internal("password hashing stopped".into()))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn no_more_than_the_pool_hash_at_once() {
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let jobs = (0..32).map(|_| {
            let (running, most) = (running.clone(), most.clone());
            super::run(move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(std::time::Duration::from_millis(5));
                running.fetch_sub(1, Ordering::SeqCst);
            })
        });
        for done in futures_util::future::join_all(jobs).await {
            done.expect("the job ran");
        }
        assert!(most.load(Ordering::SeqCst) <= super::POOL.current_num_threads());
        assert!(super::POOL.current_num_threads() <= 4);
    }

    #[tokio::test]
    async fn a_panicking_job_is_an_error_not_an_abort() {
        let outcome = super::run(|| -> u8 { panic!("boom") }).await;
        assert!(outcome.is_err());
        assert_eq!(super::run(|| 7).await.ok(), Some(7), "the pool still works");
    }
}
