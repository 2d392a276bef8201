//! Where images are decoded, resized and encoded: threads of their own, as
//! password hashes have (see `auth::hashing`), so a burst of uploads cannot
//! take the async runtime's threads or run more decodes at once than there
//! are threads; each holds up to a few hundred MB while it runs. Jobs
//! beyond the threads wait, but only [`QUEUE`] of them: the rest are
//! refused with [`AppError::Busy`] (503 and `Retry-After`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use crate::error::AppError;

static POOL: LazyLock<rayon::ThreadPool> = LazyLock::new(|| {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(2);
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("media-{i}"))
        .panic_handler(|_| tracing::error!("an image job panicked"))
        .build()
        .expect("media threads start")
});

/// Jobs that may wait beyond the running ones.
const QUEUE: usize = 8;
const RETRY_AFTER: Duration = Duration::from_secs(2);

/// One app's place in line for the media threads; clones share it.
#[derive(Clone, Debug)]
pub struct MediaWork(Arc<AtomicUsize>);

impl Default for MediaWork {
    fn default() -> Self {
        MediaWork(Arc::new(AtomicUsize::new(0)))
    }
}

impl MediaWork {
    /// Runs `work` on the media threads, or refuses when the queue is full.
    pub async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, AppError> {
        let limit = POOL.current_num_threads() + QUEUE;
        let admitted = self.0.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < limit).then_some(n + 1));
        if admitted.is_err() {
            return Err(AppError::Busy(RETRY_AFTER));
        }
        let slot = Slot(self.0.clone());
        let (done, result) = tokio::sync::oneshot::channel();
        POOL.spawn(move || {
            let slot = slot;
            // A caller that has gone (the client hung up) needs nothing.
            if done.is_closed() {
                return;
            }
            let value = work();
            drop(slot);
            let _ = done.send(value);
        });
        result.await.map_err(|_| AppError::Internal("an image job stopped".into()))
    }
}

/// An admitted job's place, given back on drop (also when the job panics).
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
