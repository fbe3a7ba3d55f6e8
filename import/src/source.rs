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
}

pub fn csv_reader(text: &str, delimiter: Delimiter) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new().has_headers(false).flexible(true).delimiter(delimiter.byte()).from_reader(text.as_bytes())
}

/// Line numbers as an editor shows them. The csv reader's own line count lags
/// behind on CRLF files (it consumes a record's LF only when reading the next), so
/// lines are counted from the record's byte offset instead, in one forward sweep.
pub struct LineCounter<'t> {
    bytes: &'t [u8],
    offset: usize,
    line: u64,
}

impl<'t> LineCounter<'t> {
    pub fn new(text: &'t str) -> Self {
        Self { bytes: text.as_bytes(), offset: 0, line: 1 }
    }

    /// The line of the record that starts at or after `offset` (line breaks of
    /// skipped blank lines included). Offsets must not go backwards.
    pub fn line_of(&mut self, record: &csv::StringRecord) -> u64 {
        let mut start = record.position().map_or(self.offset, |p| p.byte() as usize).max(self.offset);
        while start < self.bytes.len() && matches!(self.bytes[start], b'\r' | b'\n') {
            start += 1;
        }
        self.line +=
            self.bytes[self.offset..start.min(self.bytes.len())].iter().filter(|b| **b == b'\n').count() as u64;
        self.offset = start.min(self.bytes.len());
        self.line
    }
}

pub fn is_blank(record: &csv::StringRecord) -> bool {
    record.iter().all(|cell| cell.trim().is_empty())
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
        let mut source =
            Source { text, encoding: decoded.encoding, delimiter, format: Format::Standard, layout: None, diagnostics };

        let mut reader = csv_reader(&source.text, delimiter);
        let mut lines = LineCounter::new(&source.text);
        let mut record = csv::StringRecord::new();
        let mut header_line = None;
        while reader.read_record(&mut record).unwrap_or(false) {
            if !is_blank(&record) {
                header_line = Some(lines.line_of(&record));
                break;
            }
        }
        let Some(line) = header_line else {
            source.diagnostics.push(Diagnostic::file(Severity::Error, EMPTY_FILE));
            return source;
        };
        let headings: Vec<&str> = record.iter().collect();
        let (layout, problems) = layout::resolve(&headings, line, mapping);
        source.diagnostics.extend(problems);
        if let Some(layout) = &layout {
            source.format = layout.format;
        }
        let mut has_data = false;
        while !has_data && reader.read_record(&mut record).unwrap_or(false) {
            has_data = !is_blank(&record);
        }
        if !has_data {
            source.diagnostics.push(Diagnostic::file(Severity::Error, EMPTY_FILE));
            return source;
        }
        source.layout = layout;
        source
    }

    /// The data rows, one at a time into the caller's record (no per-row allocation
    /// by the reader). Blank lines are reported once, by the caller.
    pub fn data_rows(&self) -> DataRows<'_> {
        let mut reader = csv_reader(&self.text, self.delimiter);
        let mut record = csv::StringRecord::new();
        // Skip to and past the heading line.
        while reader.read_record(&mut record).unwrap_or(false) {
            if !is_blank(&record) {
                break;
            }
        }
        let mut lines = LineCounter::new(&self.text);
        lines.line_of(&record);
        DataRows { reader, lines }
    }

    /// A generous guess of the number of rows, to size per-row indexes once.
    pub fn expected_rows(&self) -> usize {
        memchr::memchr_iter(b'\n', self.text.as_bytes()).count() + 1
    }

    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

pub struct DataRows<'t> {
    reader: csv::Reader<&'t [u8]>,
    lines: LineCounter<'t>,
}

impl DataRows<'_> {
    /// Reads the next record and returns its line; `None` at the end of the file.
    pub fn next_into(&mut self, record: &mut csv::StringRecord) -> Option<u64> {
        // The reader is flexible and reads from a `str`, so it cannot fail: no
        // field-count or UTF-8 errors exist for it, and the input is in memory.
        if self.reader.read_record(record).unwrap_or(false) {
            Some(self.lines.line_of(record))
        } else {
            None
        }
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
        let mut record = csv::StringRecord::new();
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
}
