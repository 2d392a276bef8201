//! Where a composed message goes: the SMTP server of SMTP_URL, or, without
//! one, an `.eml` file in MAIL_DIR (lettre's file transport, which names
//! each file by a fresh id).

use std::path::PathBuf;

use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::MailSettings;

pub(super) enum Transport {
    Smtp { transport: AsyncSmtpTransport<Tokio1Executor>, shown: String },
    Files { transport: AsyncFileTransport<Tokio1Executor>, dir: PathBuf },
}

impl Transport {
    /// Builds the transport; nothing is connected or created yet. Fails
    /// only on an SMTP URL lettre cannot read, which settings already
    /// refuse.
    pub(super) fn new(settings: &MailSettings) -> Result<Self, String> {
        Ok(match &settings.smtp_url {
            Some(url) => {
                let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.as_str())
                    .map_err(|e| format!("SMTP_URL {:?}: {e}", url.shown()))?;
                let transport = builder.timeout(Some(settings.send_timeout)).build();
                Transport::Smtp { transport, shown: url.shown() }
            }
            None => Transport::Files { transport: AsyncFileTransport::new(&settings.dir), dir: settings.dir.clone() },
        })
    }

    /// Sends `message`; `Ok` once the server accepted it (or the file is
    /// written). The error is one line for the outbox's `last_error`.
    pub(super) async fn send(&self, message: Message) -> Result<(), String> {
        match self {
            Transport::Smtp { transport, .. } => transport.send(message).await.map(drop).map_err(|e| e.to_string()),
            Transport::Files { transport, dir } => {
                tokio::fs::create_dir_all(dir).await.map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                transport.send(message).await.map(drop).map_err(|e| e.to_string())
            }
        }
    }

    /// Where mail goes, for the start-up log line.
    pub(super) fn describe(&self) -> String {
        match self {
            Transport::Smtp { shown, .. } => format!("mail is sent through {shown}"),
            Transport::Files { dir, .. } => {
                format!("mail is written as .eml files into {} (no SMTP_URL)", dir.display())
            }
        }
    }
}
