//! Which delimiter a file uses: `,`, `;` or tab, read off its heading line.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Delimiter {
    #[serde(rename = ",")]
    Comma,
    #[serde(rename = ";")]
    Semicolon,
    #[serde(rename = "\t")]
    Tab,
}

impl Delimiter {
    pub const ALL: [Delimiter; 3] = [Delimiter::Comma, Delimiter::Semicolon, Delimiter::Tab];

    pub fn byte(self) -> u8 {
        match self {
            Delimiter::Comma => b',',
            Delimiter::Semicolon => b';',
            Delimiter::Tab => b'\t',
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Delimiter::Comma => ",",
            Delimiter::Semicolon => ";",
            Delimiter::Tab => "\t",
        }
    }

    /// How an admin would name it in a message.
    pub fn describe(self) -> &'static str {
        match self {
            Delimiter::Comma => "comma",
            Delimiter::Semicolon => "semicolon",
            Delimiter::Tab => "tab",
        }
    }
}

/// Counts each candidate outside quotes on the first record (which may span
/// lines inside quotes) and takes the most frequent; a tie or none goes to comma.
pub fn detect(text: &str) -> Delimiter {
    let mut counts = [0usize; 3];
    let mut in_quotes = false;
    for byte in text.bytes() {
        match byte {
            b'"' => in_quotes = !in_quotes,
            b'\n' | b'\r' if !in_quotes => break,
            _ if in_quotes => {}
            b',' => counts[0] += 1,
            b';' => counts[1] += 1,
            b'\t' => counts[2] += 1,
            _ => {}
        }
    }
    let mut best = Delimiter::Comma;
    let mut best_count = counts[0];
    for (delimiter, count) in Delimiter::ALL.into_iter().zip(counts).skip(1) {
        if count > best_count {
            best = delimiter;
            best_count = count;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_most_frequent_outside_quotes() {
        assert_eq!(detect("userId,email\npat,p@x.io"), Delimiter::Comma);
        assert_eq!(detect("userId;email;lastName\n"), Delimiter::Semicolon);
        assert_eq!(detect("userId\temail\n"), Delimiter::Tab);
        assert_eq!(detect("\"a;b;c\",email\n"), Delimiter::Comma);
        assert_eq!(detect("\"multi\nline;;;\";x;y\n"), Delimiter::Semicolon);
        assert_eq!(detect("userId\n"), Delimiter::Comma);
        assert_eq!(detect(""), Delimiter::Comma);
    }
}
