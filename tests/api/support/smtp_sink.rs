//! An SMTP server of a test's own (scripts/smtp_sink.py, on aiosmtpd from
//! the tools venv) on a free port, keeping each message it accepts as a
//! file the test reads back. A test that needs it and cannot start it
//! fails with one line saying how to install it; it is never skipped.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::free_port;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/smtp_sink.py");

/// One message as the server received it.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    /// Headers and body, as sent.
    pub data: String,
}

impl Received {
    /// The first header called `name` (any case), unfolded.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or("");
        let mut value: Option<String> = None;
        for line in head.split("\r\n") {
            if let Some(v) = value.as_mut() {
                if line.starts_with([' ', '\t']) {
                    v.push_str(line);
                    continue;
                }
                break;
            }
            if let Some((n, v)) = line.split_once(':')
                && n.eq_ignore_ascii_case(name)
            {
                value = Some(v.trim().to_owned());
            }
        }
        value
    }
}

pub struct SmtpSink {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

fn python() -> PathBuf {
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
    home.join(".cache/storefront-venv/bin/python")
}

fn unavailable(problem: &str) -> ! {
    panic!("the test SMTP server cannot start ({problem}): run `bash scripts/install-test-tools.sh`")
}

impl SmtpSink {
    /// A server listening on a free port.
    pub fn start() -> SmtpSink {
        let mut sink = Self::not_started();
        sink.restart();
        sink
    }

    /// A free port and a directory, with no server yet: mail sent there is
    /// refused until [`Self::restart`].
    pub fn not_started() -> SmtpSink {
        SmtpSink { port: free_port(), dir: tempfile::tempdir().expect("dir"), child: None }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Starts the server on this sink's port; waits until it listens.
    pub fn restart(&mut self) {
        let mut child = Command::new(python())
            .arg(SCRIPT)
            .arg(self.port.to_string())
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| unavailable(&format!("{}: {e}", python().display())));
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut first = String::new();
            let _ = BufReader::new(stdout).read_line(&mut first);
            let _ = tx.send(first);
        });
        let ready = rx.recv_timeout(Duration::from_secs(15)).unwrap_or_default();
        if ready.trim() != "listening" {
            let _ = child.kill();
            let output = child.wait_with_output().ok();
            let stderr = output.map(|o| String::from_utf8_lossy(&o.stderr).into_owned()).unwrap_or_default();
            let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no output").to_owned();
            unavailable(&last);
        }
        self.child = Some(child);
    }

    /// Every message received so far.
    pub fn messages(&self) -> Vec<Received> {
        let mut found: Vec<(std::time::SystemTime, Received)> = std::fs::read_dir(self.dir.path())
            .expect("sink dir")
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .map(|e| {
                let text = std::fs::read_to_string(e.path()).expect("message file");
                let modified = e.metadata().and_then(|m| m.modified()).expect("mtime");
                (modified, serde_json::from_str(&text).expect("a message the sink wrote"))
            })
            .collect();
        found.sort_by_key(|(at, _)| *at);
        found.into_iter().map(|(_, m)| m).collect()
    }

    /// Waits until at least `n` messages arrived; returns them all.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.messages();
            if got.len() >= n {
                return got;
            }
            assert!(Instant::now() < deadline, "{} of {n} messages arrived", got.len());
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
