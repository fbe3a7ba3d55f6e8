//! Outgoing mail: SMTP when `SMTP_URL` is set, otherwise `.eml` files in the
//! outbox folder (the embedded default), so nothing is ever silently dropped.
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, Message, MultiPart, SinglePart};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use muster_store::load::{Delivery, Outgoing};
use std::path::PathBuf;

#[derive(Clone)]
pub enum Mailer {
    Outbox(AsyncFileTransport<Tokio1Executor>),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

pub const FROM: &str = "Muster <no-reply@muster.invalid>";

impl Mailer {
    pub fn new(smtp_url: Option<&str>, outbox: PathBuf) -> anyhow::Result<Self> {
        Ok(match smtp_url {
            Some(url) => Mailer::Smtp(AsyncSmtpTransport::<Tokio1Executor>::from_url(url)?.build()),
            None => {
                std::fs::create_dir_all(&outbox)?;
                Mailer::Outbox(AsyncFileTransport::new(outbox))
            }
        })
    }

    pub async fn send(&self, message: Message) -> anyhow::Result<()> {
        self.deliver(message).await.map_err(|why| match why {
            Delivery::Refused(text) | Delivery::Failed(text) => anyhow::anyhow!(text),
        })
    }

    /// Sends `message`, telling a refusal that is final (the server answered
    /// 5xx) from a failure that may pass (it is down, or answered 4xx).
    pub async fn deliver(&self, message: Message) -> Result<(), Delivery> {
        match self {
            Mailer::Outbox(t) => t.send(message).await.map(drop).map_err(|e| Delivery::Failed(e.to_string())),
            Mailer::Smtp(t) => t.send(message).await.map(drop).map_err(|e| {
                if refuses_the_recipient(&e) {
                    Delivery::Refused(e.to_string())
                } else {
                    Delivery::Failed(e.to_string())
                }
            }),
        }
    }
}

/// Whether an SMTP error says the recipient can never be reached as written
/// (no such mailbox, a bad address): final for that message. Other permanent
/// errors (authentication, a refused sender or relay) are the server's
/// configuration, not the address: they are tried again, a bounded number of
/// times, so that one misconfiguration does not mark a whole load undelivered.
fn refuses_the_recipient(e: &lettre::transport::smtp::Error) -> bool {
    if !e.is_permanent() {
        return false;
    }
    let text = e.to_string();
    let code = e.status().map(|c| c.to_string()).unwrap_or_default();
    matches!(code.as_str(), "550" | "551" | "553") && !text.contains("5.7.") || text.contains("5.1.")
}

/// The message for an invitation or generated credentials. `base_url` is where
/// users reach Muster.
pub fn compose(outgoing: &Outgoing, base_url: &str) -> anyhow::Result<Message> {
    let (to, subject, body) = match outgoing {
        Outgoing::Invitation { email, name, user_id, token } => (
            email,
            "Your Muster account: set your password",
            format!(
                "Hello {name},\n\nan account with the user ID {user_id} was created for you.\n\
                 Set your password here (the link works once, for 7 days):\n\n{base_url}/invitation/{token}\n"
            ),
        ),
        Outgoing::Password { email, name, user_id, password } => (
            email,
            "Your Muster account",
            format!(
                "Hello {name},\n\nan account was created for you.\nUser ID: {user_id}\nPassword: {password}\n\n\
                 Sign in at {base_url}/signin and change the password.\n"
            ),
        ),
    };
    Ok(Message::builder()
        .from(FROM.parse::<Mailbox>()?)
        .to(to.parse::<Mailbox>()?)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN)
        .body(body)?)
}

/// Results files up to this size go with the results email; a larger one is
/// only linked to: mail servers commonly refuse messages over 25 MB, base64
/// makes an attachment a third larger, and a million lines' results (100 MB)
/// are better downloaded than mailed.
pub const RESULTS_ATTACHED_UP_TO: usize = 10 * 1024 * 1024;

/// A writer into memory that refuses to grow past `limit` (the results file
/// stops being made the moment it would not be attached).
pub struct Capped {
    pub bytes: Vec<u8>,
    limit: usize,
}

impl Capped {
    pub fn new(limit: usize) -> Self {
        Self { bytes: Vec::new(), limit }
    }
}

impl std::io::Write for Capped {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + bytes.len() > self.limit {
            return Err(std::io::Error::other("larger than an attachment may be"));
        }
        self.bytes.extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The end of a load, for the admin: the summary line, and the results file
/// (the uploaded file with its `result` column) attached as it is downloaded,
/// or, when it was too large to attach (`None`), where to download it
/// (`page`, the upload's page; its link is there in either case).
pub fn results(
    to: &str,
    file_name: &str,
    summary: &str,
    results_csv: Option<Vec<u8>>,
    page: &str,
) -> anyhow::Result<Message> {
    let stem = file_name.strip_suffix(".csv").unwrap_or(file_name);
    let builder = Message::builder()
        .from(FROM.parse::<Mailbox>()?)
        .to(to.parse::<Mailbox>()?)
        .subject(format!("Muster: {file_name} loaded"));
    let finished = format!("Your upload of {file_name} has finished.\n\n{summary}\n\n");
    Ok(match results_csv {
        Some(csv) => {
            let body = format!("{finished}The results file is attached; the upload's page is {page}\n");
            builder.multipart(MultiPart::mixed().singlepart(SinglePart::plain(body)).singlepart(
                Attachment::new(format!("{stem}-results.csv")).body(csv, ContentType::parse("text/csv")?),
            ))?
        }
        None => {
            let limit = RESULTS_ATTACHED_UP_TO / (1024 * 1024);
            let body = format!(
                "{finished}The results file is larger than {limit} MB, too large to attach: download it from the \
                 upload's page, {page}\n"
            );
            builder.header(ContentType::TEXT_PLAIN).body(body)?
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn text(message: &Message) -> String {
        String::from_utf8(message.formatted()).unwrap().replace("=\r\n", "")
    }

    #[test]
    fn a_results_file_goes_with_the_mail_or_its_page_is_named() {
        let page = "https://muster.example/uploads/7";
        let attached = results("a@x.io", "staff.csv", "3 added.", Some(b"userId,result\n".to_vec()), page).unwrap();
        let attached = text(&attached);
        assert!(attached.contains("filename=\"staff-results.csv\""), "{attached}");
        assert!(attached.contains(page), "{attached}");
        let linked = text(&results("a@x.io", "staff.csv", "3 added.", None, page).unwrap());
        assert!(!linked.contains("filename="), "nothing attached: {linked}");
        assert!(linked.contains("larger than 10 MB, too large to attach"), "{linked}");
        assert!(linked.contains(page) && linked.contains("3 added."), "{linked}");
    }

    #[test]
    fn a_capped_writer_refuses_what_would_pass_its_limit() {
        let mut capped = Capped::new(10);
        capped.write_all(b"0123456789").unwrap();
        assert!(capped.write_all(b"!").is_err());
        assert_eq!(capped.bytes, b"0123456789");
    }
}
