//! Stopping: Ctrl-C or SIGTERM, caught from the start.

use std::future::Future;

/// Ctrl-C or SIGTERM, handled from the moment `install` returns; every
/// `received()` completes once either has arrived.
pub(super) struct StopSignal(tokio::sync::watch::Receiver<bool>);

impl StopSignal {
    pub(super) fn install() -> std::io::Result<Self> {
        #[cfg(unix)]
        let (mut interrupt, mut terminate) = {
            use tokio::signal::unix::{SignalKind, signal};
            (signal(SignalKind::interrupt())?, signal(SignalKind::terminate())?)
        };
        let (tell, received) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            #[cfg(unix)]
            tokio::select! {
                _ = interrupt.recv() => {},
                _ = terminate.recv() => {},
            }
            #[cfg(not(unix))]
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutting down");
            let _ = tell.send(true);
        });
        Ok(Self(received))
    }

    pub(super) fn received(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut received = self.0.clone();
        async move {
            // An error means the watcher task is gone, which only happens
            // after it has sent.
            let _ = received.wait_for(|stopped| *stopped).await;
        }
    }
}
