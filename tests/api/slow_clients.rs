//! Slow clients cannot hold the shop's connections: headers trickled byte
//! by byte (slowloris), idle keep-alive connections and bodies that never
//! finish are all cut off at their deadlines, while other clients are
//! served as usual.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::cli::{Served, serve};

/// A demo shop on a fresh SQLite file with one-second deadlines.
fn shop() -> (Served, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("dir");
    let database = format!("sqlite://{}/shop.db", dir.path().display());
    let served = serve(
        &[
            ("DATABASE_URL", &database),
            ("STOREFRONT_HEADER_TIMEOUT_SECS", "1"),
            ("STOREFRONT_REQUEST_TIMEOUT_SECS", "1"),
        ],
        &["serve"],
    );
    (served, dir)
}

fn connect(shop: &Served) -> TcpStream {
    let stream = TcpStream::connect(shop.address.trim_start_matches("http://")).expect("connects");
    stream.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
    stream
}

/// What the server did with a connection on which the client keeps
/// writing `drip` every 200 ms: how long until it closed it, and what it
/// sent before. None if it was still open after `limit`.
fn drip_until_closed(mut stream: TcpStream, drip: &[u8], limit: Duration) -> Option<(Duration, String)> {
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    while started.elapsed() < limit {
        if stream.write_all(drip).is_err() {
            return Some((started.elapsed(), String::from_utf8_lossy(&received).into_owned()));
        }
        match stream.read(&mut buf) {
            Ok(0) => return Some((started.elapsed(), String::from_utf8_lossy(&received).into_owned())),
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return Some((started.elapsed(), String::from_utf8_lossy(&received).into_owned())),
        }
    }
    None
}

fn healthz_status(shop: &Served) -> u16 {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let response = client.get(format!("{}/healthz", shop.address)).timeout(Duration::from_secs(5)).send().await;
        response.map(|r| r.status().as_u16()).unwrap_or(0)
    })
}

#[test]
fn headers_sent_byte_by_byte_are_cut_off_while_others_are_served() {
    let (shop, _dir) = shop();
    // Fifty slowloris clients: each sends a request line, then one more
    // header line every 200 ms, never the blank line that ends them.
    let clients: Vec<_> = (0..50)
        .map(|n| {
            let mut stream = connect(&shop);
            stream.write_all(format!("GET /products?page={n} HTTP/1.1\r\nHost: shop\r\n").as_bytes()).expect("writes");
            std::thread::spawn(move || drip_until_closed(stream, b"X-Slow: 1\r\n", Duration::from_secs(15)))
        })
        .collect();
    // They do not keep anyone else out.
    assert_eq!(healthz_status(&shop), 200, "a normal request was not served beside the slow ones");
    for client in clients {
        let (after, answer) = client.join().expect("thread").expect("a slowloris connection was still open after 15 s");
        // One second of deadline, with room for a loaded machine.
        assert!(after < Duration::from_secs(6), "cut off only after {after:?}");
        assert!(!answer.contains("200 OK"), "a request whose headers never ended was answered: {answer}");
    }
}

#[test]
fn an_idle_keep_alive_connection_is_closed() {
    let (shop, _dir) = shop();
    let mut stream = connect(&shop);
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: shop\r\n\r\n").expect("writes");
    let started = Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = loop {
        match stream.read(&mut buf) {
            Ok(0) => break Some(started.elapsed()),
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break Some(started.elapsed()),
        }
        if started.elapsed() > Duration::from_secs(15) {
            break None;
        }
    };
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"), "the request was not answered first");
    let closed = closed.expect("an idle connection was still open after 15 s");
    assert!(closed < Duration::from_secs(6), "closed only after {closed:?}");
}

#[test]
fn a_body_that_never_finishes_is_answered_408() {
    let (shop, _dir) = shop();
    let mut stream = connect(&shop);
    let head = "POST /login HTTP/1.1\r\nHost: shop\r\nContent-Type: application/x-www-form-urlencoded\r\n\
                Content-Length: 10000\r\n\r\nemail=";
    stream.write_all(head.as_bytes()).expect("writes");
    let (after, answer) =
        drip_until_closed(stream, b"a", Duration::from_secs(15)).expect("a trickled body was still read after 15 s");
    assert!(answer.starts_with("HTTP/1.1 408"), "answered {answer:?}");
    assert!(after < Duration::from_secs(6), "answered only after {after:?}");
}
