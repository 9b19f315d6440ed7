//! Account mail (verification, password reset), sent in the background so that no answer's
//! timing depends on it (nor tells whether a mail went out).
//!
//! With `TROUPE_SMTP_URL` the mail goes to that SMTP server (`smtp://` with STARTTLS as the
//! URL's `tls` parameter says, `smtps://` for TLS from the start, credentials in the URL).
//! Without it, a development server writes each mail to an owner-only outbox directory in
//! its data dir; mails hold tokens, so they never go to the log.

use std::path::{Path, PathBuf};

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tracing::warn;

/// Why the mailer cannot be set up or a mail not be built.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// `TROUPE_SMTP_URL` does not parse.
    #[error("TROUPE_SMTP_URL: {0}")]
    Url(String),
    /// The sender address does not parse.
    #[error("TROUPE_MAIL_FROM: {0}")]
    From(String),
    /// The recipient address does not parse.
    #[error("recipient: {0}")]
    To(String),
    /// The outbox cannot be written.
    #[error("outbox: {0}")]
    Outbox(#[from] std::io::Error),
}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Outbox(PathBuf),
    Off,
}

/// Sends account mail.
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
}

impl Mailer {
    /// Mail through the SMTP server at `url`, from `from`.
    pub fn smtp(url: &str, from: &str) -> Result<Self, MailError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|error| MailError::Url(error.to_string()))?
            .build();
        Ok(Self { transport: Transport::Smtp(transport), from: parse_from(from)? })
    }

    /// Mail written to files in `dir` (created owner-only), for development without SMTP.
    pub fn outbox(dir: &Path, from: &str) -> Result<Self, MailError> {
        create_private_dir(dir)?;
        Ok(Self { transport: Transport::Outbox(dir.to_owned()), from: parse_from(from)? })
    }

    /// No mail at all (production without SMTP): the features that need mail say so.
    pub fn off() -> Self {
        Self { transport: Transport::Off, from: "troupe <troupe@localhost>".parse().expect("a valid address") }
    }

    /// Whether mail goes anywhere.
    pub fn is_on(&self) -> bool {
        !matches!(self.transport, Transport::Off)
    }

    /// Sends a plain-text mail in the background; a failure is logged without the mail's
    /// content (which may hold a token).
    pub fn send(&self, to: &str, subject: &str, body: String) {
        let message = match build(&self.from, to, subject, body) {
            Ok(message) => message,
            Err(error) => {
                warn!(%error, "cannot build a mail");
                return;
            }
        };
        match &self.transport {
            Transport::Smtp(transport) => {
                let transport = transport.clone();
                tokio::spawn(async move {
                    if let Err(error) = transport.send(message).await {
                        warn!(%error, "cannot send a mail through the SMTP server");
                    }
                });
            }
            Transport::Outbox(dir) => {
                if let Err(error) = write_outbox(dir, &message.formatted()) {
                    warn!(%error, dir = %dir.display(), "cannot write a mail to the outbox");
                }
            }
            Transport::Off => {}
        }
    }
}

impl Mailer {
    /// Account deletion: removes the outbox's mails to `address` (an SMTP server's mail is
    /// beyond reach once sent). Returns how many.
    pub fn forget_recipient(&self, address: &str) -> usize {
        let Transport::Outbox(dir) = &self.transport else { return 0 };
        let header = format!("to: {}", address.to_lowercase());
        let mut removed = 0;
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let Ok(text) = std::fs::read_to_string(&path) else { continue };
            let addressed = text
                .lines()
                .take_while(|line| !line.is_empty())
                .any(|line| line.to_lowercase() == header || line.to_lowercase().ends_with(&format!("<{address}>")));
            if addressed && std::fs::remove_file(&path).is_ok() {
                removed += 1;
            }
        }
        removed
    }
}

fn parse_from(from: &str) -> Result<Mailbox, MailError> {
    from.parse().map_err(|error: lettre::address::AddressError| MailError::From(error.to_string()))
}

fn build(from: &Mailbox, to: &str, subject: &str, body: String) -> Result<Message, MailError> {
    let to: Mailbox = to.parse().map_err(|error: lettre::address::AddressError| MailError::To(error.to_string()))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(subject)
        .header(lettre::message::header::ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|error| MailError::To(error.to_string()))
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

fn write_outbox(dir: &Path, message: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let name = format!("{}-{}.eml", chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"), uuid::Uuid::new_v4());
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(dir.join(name))?;
    file.write_all(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_outbox_keeps_each_mail_in_a_file_only_its_owner_reads() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let outbox = dir.path().join("outbox");
        let mailer = Mailer::outbox(&outbox, "troupe <troupe@example.com>").unwrap();
        mailer.send("ada@example.com", "Verify", "the code: 1234".to_owned());
        let files: Vec<_> = std::fs::read_dir(&outbox).unwrap().map(|entry| entry.unwrap().path()).collect();
        assert_eq!(files.len(), 1);
        let text = std::fs::read_to_string(&files[0]).unwrap();
        assert!(text.contains("To: ada@example.com") && text.contains("the code: 1234"), "{text}");
        assert_eq!(std::fs::metadata(&files[0]).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(&outbox).unwrap().permissions().mode() & 0o777, 0o700);
        mailer.send("grace@example.com", "Verify", "another code".to_owned());
        assert_eq!(mailer.forget_recipient("ada@example.com"), 1);
        let left: Vec<_> = std::fs::read_dir(&outbox).unwrap().map(|entry| entry.unwrap().path()).collect();
        assert_eq!(left.len(), 1);
        assert!(std::fs::read_to_string(&left[0]).unwrap().contains("To: grace@example.com"));
    }

    #[test]
    fn a_bad_smtp_url_or_sender_is_named() {
        assert!(matches!(Mailer::smtp("ftp://mail.example.com", "a@example.com"), Err(MailError::Url(_))));
        assert!(matches!(Mailer::smtp("smtp://127.0.0.1:2525", "not an address"), Err(MailError::From(_))));
    }
}
