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

/// The end of a load, for the admin: the summary line, and the results file
/// (the uploaded file with its `result` column) attached as it is downloaded.
pub fn results(to: &str, file_name: &str, summary: &str, results_csv: Vec<u8>) -> anyhow::Result<Message> {
    let stem = file_name.strip_suffix(".csv").unwrap_or(file_name);
    let body = format!("Your upload of {file_name} has finished.\n\n{summary}\n\nThe results file is attached.\n");
    Ok(Message::builder()
        .from(FROM.parse::<Mailbox>()?)
        .to(to.parse::<Mailbox>()?)
        .subject(format!("Muster: {file_name} loaded"))
        .multipart(MultiPart::mixed().singlepart(SinglePart::plain(body)).singlepart(
            Attachment::new(format!("{stem}-results.csv")).body(results_csv, ContentType::parse("text/csv")?),
        ))?)
}
