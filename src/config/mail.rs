//! Mail settings: how mail leaves the shop (SMTP_URL), whom it is from
//! (MAIL_FROM), where it is written when there is no SMTP server (MAIL_DIR),
//! and how the deliverer paces itself (MAIL_POLL_SECS, MAIL_MAX_ATTEMPTS).
//!
//! An [`SmtpUrl`] that exists is one lettre can build a transport from, so a
//! bad URL stops the shop at start instead of failing every delivery; its
//! `Debug` never shows a password.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, Tokio1Executor};

use super::ConfigError;
use super::env::{Env, SECOND};

pub const DEFAULT_MAIL_FROM: &str = "Storefront <shop@localhost>";
/// Beside the default SQLite database, `data/storefront.db`.
pub const DEFAULT_MAIL_DIR: &str = "data/mail";

/// An SMTP server to send through: `smtp://HOST:PORT` (plain, or STARTTLS
/// with `?tls=required`), `smtps://HOST:PORT` (TLS from the start), either
/// with `USER:PASSWORD@` before the host, as lettre reads them.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpUrl(String);

impl SmtpUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let shown = without_password(raw);
        if !(raw.starts_with("smtp://") || raw.starts_with("smtps://")) {
            return Err(format!(
                "{shown:?} is not an SMTP URL; use smtp://HOST:PORT, or smtps://USER:PASSWORD@HOST:PORT for TLS"
            ));
        }
        // Building the transport reads the whole URL (host, port, `tls=`,
        // credentials) and connects to nothing.
        AsyncSmtpTransport::<Tokio1Executor>::from_url(raw)
            .map_err(|e| format!("{shown:?} is not a usable SMTP URL ({e})"))?;
        Ok(SmtpUrl(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The URL with its user and password left out, for logs.
    pub fn shown(&self) -> String {
        without_password(&self.0)
    }
}

impl std::fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown())
    }
}

/// `url` with anything between the scheme and the last `@` replaced by `…`.
fn without_password(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => format!("{}…@{}", &url[..scheme_end + 3], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

/// How mail is sent, and how hard the deliverer tries.
#[derive(Clone, Debug)]
pub struct MailSettings {
    /// SMTP_URL: the server mail goes through. Unset: each message is
    /// written as an `.eml` file into `dir` instead.
    pub smtp_url: Option<SmtpUrl>,
    /// MAIL_FROM: the sender of every message; its domain also ends each
    /// Message-ID.
    pub from: Mailbox,
    /// MAIL_DIR: where messages are written without SMTP_URL.
    pub dir: PathBuf,
    /// MAIL_POLL_SECS: how often the deliverer looks for due mail when
    /// nobody nudged it (mail enqueued by another instance, left by a
    /// crash, or waiting for a retry).
    pub poll_interval: Duration,
    /// MAIL_MAX_ATTEMPTS: failed attempts after which a message is given up.
    pub max_attempts: u32,
    /// The wait after the first failed attempt; it doubles with each
    /// further one, up to `retry_max`. Not read from the environment.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// How long a deliverer holds the messages it claimed; another claims
    /// them only after that (the holder crashed). Longer than a batch of
    /// sends can take, see `send_timeout`.
    pub lease: Duration,
    /// The most one SMTP command may take before the attempt fails. A
    /// message is only sent while its lease has this long left.
    pub send_timeout: Duration,
}

impl Default for MailSettings {
    fn default() -> Self {
        MailSettings {
            smtp_url: None,
            from: DEFAULT_MAIL_FROM.parse().expect("the default sender parses"),
            dir: PathBuf::from(DEFAULT_MAIL_DIR),
            poll_interval: Duration::from_secs(10),
            max_attempts: 10,
            retry_base: Duration::from_secs(30),
            retry_max: Duration::from_secs(3600),
            lease: Duration::from_secs(300),
            send_timeout: Duration::from_secs(30),
        }
    }
}

pub(super) fn read(env: &Env) -> Result<MailSettings, ConfigError> {
    let mut s = MailSettings { smtp_url: env.read("SMTP_URL", SmtpUrl::parse)?, ..MailSettings::default() };
    let from = env.read("MAIL_FROM", |raw| {
        Mailbox::from_str(raw.trim())
            .map_err(|e| format!("{raw:?} is not a mailbox such as \"Shop <shop@example.com>\" ({e})"))
    })?;
    s.from = from.unwrap_or(s.from);
    s.dir = env.string("MAIL_DIR").map(|d| PathBuf::from(d.trim())).unwrap_or(s.dir);
    s.poll_interval =
        env.duration_in("MAIL_POLL_SECS", SECOND, "a number of seconds", 1..=3600)?.unwrap_or(s.poll_interval);
    s.max_attempts = env.number_in("MAIL_MAX_ATTEMPTS", "a number", 1..=100)?.unwrap_or(s.max_attempts);
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_with(vars: &[(&str, &str)]) -> Result<MailSettings, ConfigError> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let lookup = move |var: &str| vars.iter().find(|(k, _)| k == var).map(|(_, v)| v.clone());
        read(&Env::new(&lookup))
    }

    #[test]
    fn without_smtp_mail_is_written_beside_the_default_database() {
        let s = read_with(&[]).unwrap();
        assert!(s.smtp_url.is_none());
        assert_eq!(s.dir, PathBuf::from("data/mail"));
        assert_eq!(s.from.email.to_string(), "shop@localhost");
    }

    #[test]
    fn smtp_urls_take_plain_tls_and_credentials() {
        for url in ["smtp://127.0.0.1:2525", "smtps://user:secret@mail.example.com:465", "smtp://mx?tls=required"] {
            let s = read_with(&[("SMTP_URL", url)]).unwrap();
            assert_eq!(s.smtp_url.map(|u| u.as_str().to_owned()).as_deref(), Some(url));
        }
    }

    #[test]
    fn a_bad_smtp_url_or_sender_names_its_variable() {
        for (var, value) in [
            ("SMTP_URL", "mail.example.com:25"),
            ("SMTP_URL", "http://mail.example.com"),
            ("SMTP_URL", "smtp://"),
            ("SMTP_URL", "smtp://mx?tls=sometimes"),
            ("MAIL_FROM", "not an address"),
            ("MAIL_FROM", "Shop <shop@>"),
            ("MAIL_POLL_SECS", "0"),
            ("MAIL_MAX_ATTEMPTS", "many"),
        ] {
            let e = read_with(&[(var, value)]).unwrap_err();
            assert_eq!(e.var, var, "{var}={value}");
            assert!(!e.to_string().contains('\n'), "{e}");
        }
    }

    #[test]
    fn never_shows_an_smtp_password() {
        let s = read_with(&[("SMTP_URL", "smtps://shop:hunter2@mail.example.com:465")]).unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2") && shown.contains("mail.example.com:465"), "{shown}");
        let e = read_with(&[("SMTP_URL", "smtp://shop:hunter2@mail.example.com?tls=maybe")]).unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
}
