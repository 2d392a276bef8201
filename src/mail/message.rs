//! What a mail is before it is queued, parsed at the edge: a
//! [`DedupeKey`] saying what it is about, a recipient that is a real
//! mailbox, and its texts. Also the Message-ID every attempt at one mail
//! shares, and the lettre message built from a queued row.

use std::str::FromStr;

use lettre::Message;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use sha2::{Digest, Sha256};

/// Why a mail could not be made.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    #[error("a dedupe key is 1 to {DEDUPE_KEY_MAX} printable characters without spaces")]
    DedupeKey,
    #[error("{0:?} is not an email address")]
    Recipient(String),
}

/// The longest [`DedupeKey`], as the column allows.
pub const DEDUPE_KEY_MAX: usize = 200;

/// What a mail is about, e.g. `order-confirmation:SF-7K2M9QX4`: the outbox
/// holds one mail per key, so enqueuing the same one again is a no-op.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DedupeKey(String);

impl DedupeKey {
    pub fn parse(raw: &str) -> Result<Self, MailError> {
        let ok = !raw.is_empty() && raw.len() <= DEDUPE_KEY_MAX && raw.chars().all(|c| c.is_ascii_graphic());
        ok.then(|| DedupeKey(raw.to_owned())).ok_or(MailError::DedupeKey)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for DedupeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A mail to enqueue (see [`super::enqueue`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingMail {
    pub dedupe_key: DedupeKey,
    pub to: Mailbox,
    pub subject: String,
    /// The plain-text body; every mail has one.
    pub text: String,
    /// An HTML alternative to `text`, if any.
    pub html: Option<String>,
}

impl OutgoingMail {
    /// A mail from strings as a caller holds them: the key and the
    /// recipient (`ada@example.com` or `Ada <ada@example.com>`) are parsed
    /// here.
    pub fn new(
        dedupe_key: &str,
        to: &str,
        subject: impl Into<String>,
        text: impl Into<String>,
        html: Option<String>,
    ) -> Result<Self, MailError> {
        Ok(OutgoingMail {
            dedupe_key: DedupeKey::parse(dedupe_key)?,
            to: parse_mailbox(to)?,
            subject: subject.into(),
            text: text.into(),
            html,
        })
    }
}

pub(super) fn parse_mailbox(raw: &str) -> Result<Mailbox, MailError> {
    Mailbox::from_str(raw.trim()).map_err(|_| MailError::Recipient(raw.to_owned()))
}

/// The Message-ID of the mail with `key`, sent from `from`: the same on
/// every attempt, so a receiver that sees it twice (after the one crash
/// window the outbox leaves, see `deliver.rs`) can drop the second copy.
/// The key itself may hold characters a Message-ID may not, hence a hash.
pub fn message_id(key: &DedupeKey, from: &Mailbox) -> String {
    let digest = Sha256::digest(key.as_str().as_bytes());
    let left: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("<{left}@{}>", from.email.domain())
}

/// A queued mail as the transport sends it. Errors are about the stored
/// row (a recipient that no longer parses), so they are final.
pub(super) fn compose(
    key: &DedupeKey,
    from: &Mailbox,
    to: Mailbox,
    subject: &str,
    text: &str,
    html: Option<&str>,
) -> Result<Message, String> {
    let builder = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(subject)
        .message_id(Some(message_id(key, from)))
        .date_now();
    let built = match html {
        Some(html) => builder.multipart(MultiPart::alternative_plain_html(text.to_owned(), html.to_owned())),
        None => builder.singlepart(SinglePart::plain(text.to_owned())),
    };
    built.map_err(|e| format!("cannot build the message: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dedupe_key_is_printable_without_spaces_and_bounded() {
        assert!(DedupeKey::parse("order-confirmation:SF-7K2M9QX4").is_ok());
        for bad in ["", "has space", "tab\there", "line\nbreak", "ordre-confirmé:1", &"k".repeat(201)] {
            assert_eq!(DedupeKey::parse(bad), Err(MailError::DedupeKey), "{bad:?}");
        }
        assert!(DedupeKey::parse(&"k".repeat(200)).is_ok());
    }

    #[test]
    fn a_recipient_is_parsed_at_the_edge() {
        let mail = OutgoingMail::new("k", " Ada Lovelace <ada@example.com> ", "s", "t", None).unwrap();
        assert_eq!(mail.to.email.to_string(), "ada@example.com");
        assert_eq!(mail.to.name.as_deref(), Some("Ada Lovelace"));
        for bad in ["", "ada", "ada@", "<ada@example.com", "a@b.com, c@d.com"] {
            assert_eq!(OutgoingMail::new("k", bad, "s", "t", None), Err(MailError::Recipient(bad.into())), "{bad:?}");
        }
    }

    #[test]
    fn a_stored_recipient_reads_back_as_it_was() {
        for raw in ["ada@example.com", "Ada Lovelace <ada@example.com>", "Zoë \"Z\" Ådahl <zoe@example.com>"] {
            let mailbox = parse_mailbox(raw).unwrap();
            assert_eq!(parse_mailbox(&mailbox.to_string()).unwrap(), mailbox, "{raw}");
        }
    }

    #[test]
    fn the_message_id_is_stable_per_key_and_distinct_between_keys() {
        let from: Mailbox = "Shop <shop@shop.example>".parse().unwrap();
        let a = DedupeKey::parse("order-confirmation:SF-1").unwrap();
        let b = DedupeKey::parse("order-confirmation:SF-2").unwrap();
        assert_eq!(message_id(&a, &from), message_id(&a.clone(), &from));
        assert_ne!(message_id(&a, &from), message_id(&b, &from));
        let id = message_id(&a, &from);
        let left = id.strip_prefix('<').and_then(|i| i.strip_suffix("@shop.example>")).unwrap_or_default();
        assert!(left.len() == 32 && left.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
    }

    #[test]
    fn a_message_carries_its_id_and_an_html_alternative() {
        let from: Mailbox = "Shop <shop@shop.example>".parse().unwrap();
        let key = DedupeKey::parse("k:1").unwrap();
        let to = parse_mailbox("ada@example.com").unwrap();
        let message = compose(&key, &from, to, "Your order", "Thanks", Some("<p>Thanks</p>")).unwrap();
        let raw = String::from_utf8(message.formatted()).unwrap();
        assert!(raw.contains(&format!("Message-ID: {}", message_id(&key, &from))), "{raw}");
        assert!(raw.contains("multipart/alternative") && raw.contains("<p>Thanks</p>"), "{raw}");
    }
}
