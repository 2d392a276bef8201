//! The `storefront` binary run as a process: a command with a clean
//! environment, and a `storefront serve` on a free port, killed when the
//! test drops it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::store::unique_name;

const BIN: &str = env!("CARGO_BIN_EXE_storefront");

/// The binary with a clean environment and a cache key prefix of its own.
pub fn storefront(envs: &[(&str, &str)], args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env("CACHE_KEY_PREFIX", unique_name("sfcli"));
    // The demo's and the seed's images: never into the checkout's data/.
    cmd.env("MEDIA_DIR", std::env::temp_dir().join(unique_name("sfcli-media")));
    cmd.args(args)
        .env_remove("DATABASE_URL")
        .env_remove("STOREFRONT_ADDR")
        .env("RUST_LOG", "info")
        .envs(envs.iter().copied());
    cmd
}

/// A running `storefront serve`, killed when dropped.
pub struct Served {
    child: Child,
    pub address: String,
}

impl Served {
    /// Sends SIGTERM, as a process manager stopping the shop does.
    pub fn terminate(&self) {
        let status = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status().expect("kill");
        assert!(status.success());
    }

    /// SIGKILL: a crash, no shutdown of any kind.
    pub fn crash(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the process to exit; its exit code, or `None` after `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return Some(status.code().unwrap_or(-1));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary on a free port and waits for its "listening on" line.
pub fn serve(envs: &[(&str, &str)], args: &[&str]) -> Served {
    let mut child = storefront(&[envs, &[("STOREFRONT_ADDR", "127.0.0.1:0")]].concat(), args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(at) = line.find("listening on http://") {
                let _ = tx.send(line[at + "listening on ".len()..].trim().to_owned());
            }
        }
    });
    let address = rx.recv_timeout(Duration::from_secs(60)).expect("the server reports its address");
    Served { child, address }
}
