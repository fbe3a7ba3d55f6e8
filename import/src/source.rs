//! Opening a file: bytes to text, the delimiter, the heading line, and a
//! streaming reader over the data rows with their editor line numbers.
use crate::decode::{decode, Encoding};
use crate::diagnostic::{Diagnostic, Severity};
use crate::dialect::{self, Delimiter};
use crate::layout::{self, Format, HeadingMapping, Layout};
use std::borrow::Cow;

pub const EMPTY_FILE: &str = "Users file is empty";

/// What is known of a file before any row is read.
pub struct Source<'b> {
    pub text: Cow<'b, str>,
    pub encoding: Encoding,
    pub delimiter: Delimiter,
    pub format: Format,
    /// `None` when the heading line is unusable; the diagnostics say why.
    pub layout: Option<Layout>,
    pub diagnostics: Vec<Diagnostic>,
    /// The text's line count, counted once when first needed.
    lines: std::sync::OnceLock<usize>,
}

fn csv_reader(text: &str, delimiter: Delimiter) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new().has_headers(false).flexible(true).delimiter(delimiter.byte()).from_reader(text.as_bytes())
}

/// One record of a file, its cells as text.
///
/// The reader works on bytes, without a UTF-8 check per record: it reads a `str`,
/// cuts it only at ASCII bytes (delimiter, quote, CR, LF) and removes only quote
/// bytes, so every cell is whole UTF-8 already. The bytes are private to this
/// module, so nothing else can put other bytes in a `Record`.
#[derive(Debug, Clone, Default)]
pub struct Record(csv::ByteRecord);

impl Record {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn get(&self, index: usize) -> Option<&str> {
        self.0.get(index).map(as_text)
    }
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(as_text)
    }
    /// True when every cell is empty or white space: such lines are skipped.
    pub fn is_blank(&self) -> bool {
        self.iter().all(|cell| crate::fields::trim(cell).is_empty())
    }
}

impl<'a> From<Vec<&'a str>> for Record {
    fn from(cells: Vec<&'a str>) -> Self {
        Self(csv::ByteRecord::from(cells))
    }
}

fn as_text(cell: &[u8]) -> &str {
    debug_assert!(std::str::from_utf8(cell).is_ok(), "a cell of a str is UTF-8");
    // SAFETY: `Record`'s bytes come from a `str` cut at ASCII bytes with only ASCII
    // bytes removed (see `Record`), or from `&str`s (`From<Vec<&str>>`).
    unsafe { std::str::from_utf8_unchecked(cell) }
}

/// The records of a text, each with its line as an editor shows it.
///
/// The csv reader counts every LF it consumes, but it records a record's position
/// where the previous record stopped, which on CRLF files is before that record's
/// LF (and before any blank lines). The line breaks between that position and the
/// record's first byte are added.
pub struct Records<'t> {
    reader: csv::Reader<&'t [u8]>,
    bytes: &'t [u8],
    /// Where `bytes` starts in the whole text, and the LFs before that point: a
    /// reader may start inside a text (see `crate::parts`).
    from: usize,
    lines_before: u64,
}

/// Where a record is in the whole text.
pub(crate) struct Located {
    /// Its line as an editor shows it.
    pub line: u64,
    /// Where the record before it stopped (before that record's line break).
    pub stopped: usize,
    /// Its first byte, after any line breaks.
    pub start: usize,
}

impl<'t> Records<'t> {
    pub fn new(text: &'t str, delimiter: Delimiter) -> Self {
        Self::starting_at(text, delimiter, 0, 0)
    }

    /// A reader of `text` from byte `from`, which must start a line;
    /// `lines_before` is the number of LFs before it.
    pub(crate) fn starting_at(text: &'t str, delimiter: Delimiter, from: usize, lines_before: u64) -> Self {
        let rest = &text[from..];
        Self { reader: csv_reader(rest, delimiter), bytes: rest.as_bytes(), from, lines_before }
    }

    /// Reads the next record (blank ones included) and says where it is; `None`
    /// at the end of the text.
    pub(crate) fn next_located(&mut self, record: &mut Record) -> Option<Located> {
        // The reader is flexible and reads from memory, so it cannot fail.
        if !self.reader.read_byte_record(&mut record.0).unwrap_or(false) {
            return None;
        }
        // The reader always sets a record's position.
        let (stopped, mut line) = record.0.position().map_or((0, 1), |p| (p.byte() as usize, p.line()));
        let mut at = stopped;
        while let Some(&byte @ (b'\r' | b'\n')) = self.bytes.get(at) {
            line += u64::from(byte == b'\n');
            at += 1;
        }
        Some(Located { line: line + self.lines_before, stopped: stopped + self.from, start: at + self.from })
    }

    /// Reads the next record (blank ones included) and returns its line; `None`
    /// at the end of the text.
    pub fn next_into(&mut self, record: &mut Record) -> Option<u64> {
        self.next_located(record).map(|at| at.line)
    }

    /// The next record that is not blank.
    pub fn next_filled(&mut self, record: &mut Record) -> Option<u64> {
        loop {
            let line = self.next_into(record)?;
            if !record.is_blank() {
                return Some(line);
            }
        }
    }

    /// Where the next record begins (or the line breaks before it), in the whole text.
    pub(crate) fn position(&self) -> usize {
        self.reader.position().byte() as usize + self.from
    }
}

impl<'b> Source<'b> {
    pub fn open(bytes: &'b [u8], mapping: &HeadingMapping, delimiter: Option<Delimiter>) -> Self {
        let decoded = decode(bytes);
        let mut diagnostics = Vec::new();
        match decoded.encoding {
            Encoding::Windows1252 => diagnostics.push(Diagnostic::file(
                Severity::Warning,
                "The file is not UTF-8 or UTF-16; it was read as Windows-1252. Check that accented letters look right, or save the file as CSV UTF-8",
            )),
            _ if decoded.had_errors => diagnostics.push(Diagnostic::file(
                Severity::Warning,
                "The file holds characters that are not valid UTF-16; they were replaced with �",
            )),
            _ => {}
        }
        let text = decoded.text;
        let delimiter = delimiter.unwrap_or_else(|| dialect::detect(&text));
        let mut source = Source {
            text,
            encoding: decoded.encoding,
            delimiter,
            format: Format::Standard,
            layout: None,
            diagnostics,
            lines: Default::default(),
        };

        let mut records = Records::new(&source.text, delimiter);
        let mut record = Record::new();
        let Some(line) = records.next_filled(&mut record) else {
            source.diagnostics.push(Diagnostic::file(Severity::Error, EMPTY_FILE));
            return source;
        };
        let headings: Vec<&str> = record.iter().collect();
        let (layout, problems) = layout::resolve(&headings, line, mapping);
        source.diagnostics.extend(problems);
        if let Some(layout) = &layout {
            source.format = layout.format;
        }
        if records.next_filled(&mut record).is_none() {
            source.diagnostics.push(Diagnostic::file(Severity::Error, EMPTY_FILE));
            return source;
        }
        source.layout = layout;
        source
    }

    /// The data rows, one at a time into the caller's record (no per-row allocation
    /// by the reader). Blank lines are reported once, by the caller.
    pub fn data_rows(&self) -> Records<'_> {
        let mut records = Records::new(&self.text, self.delimiter);
        // Past the heading line.
        records.next_filled(&mut Record::new());
        records
    }

    /// A generous guess of the number of rows, to size per-row indexes once.
    pub fn expected_rows(&self) -> usize {
        *self.lines.get_or_init(|| memchr::memchr_iter(b'\n', self.text.as_bytes()).count() + 1)
    }

    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(text: &str) -> Source<'_> {
        Source::open(text.as_bytes(), &HeadingMapping::new(), None)
    }

    #[test]
    fn empty_and_headings_only_files() {
        for text in ["", "\r\n\n", "userId,email\r\n", "userId,email\n,\n\n"] {
            let source = open(text);
            let messages: Vec<&str> = source.diagnostics.iter().map(|d| d.message.as_str()).collect();
            assert_eq!(messages, [EMPTY_FILE], "{text:?}");
            assert!(source.layout.is_none());
        }
    }

    #[test]
    fn rows_carry_editor_line_numbers_across_quoted_line_breaks() {
        let source = open("userId,email,jobTitle\r\npat,p@x.io,\"Nurse\r\nSister\"\r\n\r\nsam,s@x.io,x\r\n");
        assert!(source.layout.is_some());
        let mut rows = source.data_rows();
        let mut record = Record::new();
        let mut seen = Vec::new();
        while let Some(line) = rows.next_into(&mut record) {
            seen.push((line, record.get(0).unwrap().to_owned(), record.get(2).unwrap().to_owned()));
        }
        assert_eq!(seen, [(2, "pat".into(), "Nurse\r\nSister".into()), (5, "sam".into(), "x".into())]);
    }

    #[test]
    fn windows_1252_is_read_with_a_warning_and_semicolons_detected() {
        let source = Source::open(b"userId;email;lastName\npat;p@x.io;Bront\xEB\n", &HeadingMapping::new(), None);
        assert_eq!(source.encoding, Encoding::Windows1252);
        assert_eq!(source.delimiter, Delimiter::Semicolon);
        assert_eq!(source.diagnostics.len(), 1);
        assert_eq!(source.diagnostics[0].severity, Severity::Warning);
        assert!(source.text.contains("Brontë"));
    }

    #[test]
    fn broken_utf16_is_repaired_with_a_warning() {
        let mut bytes = Encoding::Utf16Le.encode("userId,email,lastName\npat,p@x.io,Bront");
        // An unpaired high surrogate where "ë" should be.
        bytes.extend_from_slice(&[0x00, 0xD8, b'\n', 0x00]);
        let source = Source::open(&bytes, &HeadingMapping::new(), None);
        assert_eq!(source.encoding, Encoding::Utf16Le);
        let messages: Vec<&str> = source.diagnostics.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(messages, ["The file holds characters that are not valid UTF-16; they were replaced with �"]);
        assert_eq!(source.diagnostics[0].severity, Severity::Warning);
        assert!(source.text.contains("Bront\u{FFFD}\n"), "{:?}", source.text);
        assert!(source.layout.is_some(), "the file is read on");
    }
}
