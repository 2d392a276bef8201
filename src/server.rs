//! The HTTP server loop: hyper, with what `axum::serve` does not offer.
//! A client must send its headers within a deadline (slowloris clients and
//! idle keep-alive connections are closed), and after the stop signal the
//! connections in flight get a bounded grace period.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// How long clients may be slow, and how long a stop may take.
#[derive(Clone, Copy, Debug)]
pub struct Deadlines {
    /// For a request's headers, and for an idle connection between requests.
    pub headers: Duration,
    /// After the stop signal, for the requests in flight.
    pub grace: Duration,
}

/// Serves `router` on `listener` until `stop` completes, then lets the
/// connections in flight finish for `deadlines.grace` at most.
pub async fn serve(listener: TcpListener, router: Router, stop: impl Future<Output = ()>, deadlines: Deadlines) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(deadlines.headers);
    // HTTP/2 has no header deadline; a ping that goes unanswered closes the
    // connection instead.
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(deadlines.headers)
        .keep_alive_timeout(deadlines.headers);
    let connections = GracefulShutdown::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    pause_after_accept_error(e).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let _ = stream.set_nodelay(true);
        let service = router.clone().map_request(move |mut request: axum::http::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(remote));
            request
        });
        let connection = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = connections.watch(connection.into_owned());
        tokio::spawn(async move {
            // A client that hangs up or times out is not the server's error.
            let _ = connection.await;
        });
    }
    drop(listener);
    tokio::select! {
        () = connections.shutdown() => {}
        () = tokio::time::sleep(deadlines.grace) => {
            tracing::warn!(grace_secs = deadlines.grace.as_secs(), "requests still in flight after the grace period; exiting");
        }
    }
}

/// A failed accept that concerns one client is skipped; anything else (out
/// of file descriptors) is logged and retried after a pause, rather than
/// spinning.
async fn pause_after_accept_error(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(e.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
