//! A real SMTP server for the tests, in Rust: it speaks enough of RFC 5321 for
//! lettre (EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT), keeps what it received,
//! and refuses the recipients it is told to, permanently (550) or for now (451).
//! Python's `smtpd`, which the tests used before, is gone from Python 3.12.
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// One message accepted: its recipients and its text (headers and body).
#[derive(Debug, Clone)]
pub struct Received {
    pub to: Vec<String>,
    pub text: String,
}

#[derive(Default)]
struct Shared {
    received: Vec<Received>,
    /// Recipient address (lower case) → the reply its RCPT gets.
    refuse: HashMap<String, &'static str>,
}

pub struct SmtpServer {
    pub port: u16,
    shared: Arc<Mutex<Shared>>,
}

pub const PERMANENT: &str = "550 5.1.1 No such user here";
pub const TEMPORARY: &str = "451 4.3.0 Try again later";

impl SmtpServer {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the SMTP server");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let accepting = shared.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let shared = accepting.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &shared);
                });
            }
        });
        Self { port, shared }
    }

    /// RCPT TO this address gets `reply` (say [`PERMANENT`] or [`TEMPORARY`]).
    pub fn refuse(&self, address: &str, reply: &'static str) {
        self.shared.lock().unwrap().refuse.insert(address.to_lowercase(), reply);
    }

    pub fn accept_all(&self) {
        self.shared.lock().unwrap().refuse.clear();
    }

    pub fn messages(&self) -> Vec<Received> {
        self.shared.lock().unwrap().received.clone()
    }

    /// The messages sent to `address`.
    pub fn to(&self, address: &str) -> Vec<Received> {
        self.messages().into_iter().filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(address))).collect()
    }
}

fn serve(stream: TcpStream, shared: &Mutex<Shared>) -> std::io::Result<()> {
    let mut out = stream.try_clone()?;
    let mut lines = BufReader::new(stream);
    let mut reply = |text: &str| -> std::io::Result<()> { out.write_all(format!("{text}\r\n").as_bytes()) };
    reply("220 muster-test ESMTP")?;
    let mut to: Vec<String> = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_owned();
        let verb = command.split([' ', ':']).next().unwrap_or("").to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" => {
                reply("250-muster-test")?;
                reply("250 8BITMIME")?;
            }
            "HELO" | "NOOP" => reply("250 OK")?,
            "MAIL" => {
                to.clear();
                reply("250 OK")?;
            }
            "RCPT" => {
                let address = command
                    .split_once('<')
                    .and_then(|(_, rest)| rest.split_once('>'))
                    .map(|(address, _)| address.to_owned())
                    .unwrap_or_default();
                let refused = shared.lock().unwrap().refuse.get(&address.to_lowercase()).copied();
                match refused {
                    Some(answer) => reply(answer)?,
                    None => {
                        to.push(address);
                        reply("250 OK")?;
                    }
                }
            }
            "DATA" => {
                if to.is_empty() {
                    reply("554 5.5.1 No valid recipients")?;
                    continue;
                }
                reply("354 End data with <CR><LF>.<CR><LF>")?;
                let mut text = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line)? == 0 {
                        return Ok(());
                    }
                    let content = line.trim_end_matches(['\r', '\n']);
                    if content == "." {
                        break;
                    }
                    text.push_str(content.strip_prefix('.').filter(|_| content.starts_with("..")).unwrap_or(content));
                    text.push('\n');
                }
                shared.lock().unwrap().received.push(Received { to: std::mem::take(&mut to), text });
                reply("250 OK queued")?;
            }
            "RSET" => {
                to.clear();
                reply("250 OK")?;
            }
            "QUIT" => {
                reply("221 Bye")?;
                return Ok(());
            }
            _ => reply("502 5.5.2 Command not recognised")?,
        }
    }
}
