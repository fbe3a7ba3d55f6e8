//! Opening a file: bytes to text, the delimiter, the heading line, and a
//! streaming reader over the data rows with their editor line numbers.
use crate::decode::{decode, Encoding};
use crate::diagnostic::{Diagnostic, Severity};
use crate::dialect::{self, Delimiter};
use crate::layout::{self, Format, HeadingMapping, Layout};
use std::borrow::Cow;

pub const EMPTY_FILE: &str = "Users file is empty";
pub const TOO_LARGE: &str = "The file is 4 GB or larger; split it into smaller files";
/// A text too large to read: its lines might not fit in 32 bits.
fn too_large(bytes: usize) -> bool {
    u32::try_from(bytes).map_or(true, |len| len == u32::MAX)
}

/// What is known of a file before any row is read.
pub struct Source<'b> {
    pub text: Cow<'b, str>,
    pub encoding: Encoding,
    pub delimiter: Delimiter,
    pub format: Format,
    /// `None` when the heading line is unusable; the diagnostics say why.
    pub layout: Option<Layout>,
    pub diagnostics: Vec<Diagnostic>,
    /// Entra's template has a line (`version:v1.0`) before its headings.
    version_line: bool,
    /// [`Source::expected_rows`], worked out once when first needed.
    lines: std::sync::OnceLock<usize>,
}

/// One record of a file, its cells as text.
///
/// Cells are cut from a `str` only at ASCII bytes (delimiter, quote, CR, LF) and
/// lose only quote bytes, so every cell is whole UTF-8 already and is not checked
/// again. The bytes are private to this module, so nothing else can put other
/// bytes in a `Record`.
#[derive(Debug, Clone, Default)]
pub struct Record {
    bytes: Vec<u8>,
    /// Each cell's start and end in `bytes`.
    cells: Vec<(usize, usize)>,
    /// Where csv_core writes its cells' ends, before they become `cells`.
    ends: Vec<usize>,
    /// See [`Record::free_of_controls`].
    free_of_controls: bool,
}

impl Record {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn len(&self) -> usize {
        self.cells.len()
    }
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }
    pub fn get(&self, index: usize) -> Option<&str> {
        self.cells.get(index).map(|&(start, end)| as_text(&self.bytes[start..end]))
    }
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.cells.iter().map(|&(start, end)| as_text(&self.bytes[start..end]))
    }
    /// True when every cell is empty or white space: such lines are skipped.
    pub fn is_blank(&self) -> bool {
        self.iter().all(|cell| crate::fields::trim(cell).is_empty())
    }

    /// True when no cell holds a control character, as found while reading (false
    /// when not known): the field rules then need not look for one.
    pub fn free_of_controls(&self) -> bool {
        self.free_of_controls
    }

    /// A line without quotes or CR, cut at each delimiter: the bytes are kept
    /// as they are (one copy) and the cells point into them.
    fn set_plain(&mut self, line: &[u8], delimiter: u8) {
        self.bytes.clear();
        self.bytes.extend_from_slice(line);
        self.cells.clear();
        self.free_of_controls = !crate::scan::cut(line, delimiter, &mut self.cells);
    }
}

impl<'a> From<Vec<&'a str>> for Record {
    fn from(cells: Vec<&'a str>) -> Self {
        let mut record = Record::new();
        for cell in cells {
            let start = record.bytes.len();
            record.bytes.extend_from_slice(cell.as_bytes());
            record.cells.push((start, record.bytes.len()));
        }
        record
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
/// Records are read as the `csv` crate reads them (RFC 4180 quoting, CR, LF or
/// CRLF ending a record, blank lines skipped, a BOM at the start dropped), and
/// `csv_core` reads every record that has a quote, from the field that holds
/// its first quote (`Records::read_quoted` says why it may). A record without one (most
/// records of most files) is a line, cut at its delimiters with `memchr`: three
/// times faster than the byte-at-a-time state machine, which gains nothing on
/// text with no quotes. A property test and the fuzz target check that both
/// ways give what the `csv` crate gives.
pub struct Records<'t> {
    /// Reads the records that have a quote, always from the first byte of a field
    /// that begins no line (so that it reads as at a record's start).
    quoted: csv_core::Reader,
    bytes: &'t [u8],
    delimiter: u8,
    /// The next byte to read, in `bytes`.
    at: usize,
    /// The LFs before `at`, and before `bytes` in the whole text.
    lines: u64,
    /// Where `bytes` starts in the whole text: a reader may start inside a text
    /// (see `crate::parts`).
    from: usize,
}

/// Where a record is in the whole text.
pub(crate) struct Located {
    /// Its line as an editor shows it.
    pub line: u64,
    /// Where the record before it stopped: after the CR or LF that ended it (so
    /// before the LF of a CRLF).
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
        let bytes = &text.as_bytes()[from..];
        let mut quoted = csv_core::ReaderBuilder::new().delimiter(delimiter.byte()).build();
        // csv_core drops a BOM on its first read only, and its first read may be
        // of a record far into the text: a read of a line break now (which it
        // skips, as a blank line) is that first read. A BOM at the start is
        // dropped here, as the csv crate drops it.
        quoted.read_record(b"\n", &mut [0], &mut [0]);
        let at = if bytes.starts_with(b"\xEF\xBB\xBF") { 3 } else { 0 };
        Self { quoted, bytes, delimiter: delimiter.byte(), at, lines: lines_before, from }
    }

    /// Reads the next record (blank ones included) and says where it is; `None`
    /// at the end of the text.
    pub(crate) fn next_located(&mut self, record: &mut Record) -> Option<Located> {
        let stopped = self.at;
        // Line breaks before a record are blank lines, or the LF of a CRLF that
        // ended the record before: skipped, as csv_core skips them.
        while let Some(&byte @ (b'\r' | b'\n')) = self.bytes.get(self.at) {
            self.lines += u64::from(byte == b'\n');
            self.at += 1;
        }
        let start = self.at;
        let rest = self.bytes.get(start..).filter(|rest| !rest.is_empty())?;
        let line = self.lines + 1;
        match memchr::memchr3(b'\n', b'\r', b'"', rest) {
            Some(quote) if rest[quote] == b'"' => self.read_quoted(record, quote)?,
            // CR or LF ends the record, and is read with it.
            Some(end) => {
                record.set_plain(&rest[..end], self.delimiter);
                self.at += end + 1;
                self.lines += u64::from(rest[end] == b'\n');
            }
            None => {
                record.set_plain(rest, self.delimiter);
                self.at += rest.len();
            }
        }
        Some(Located { line, stopped: stopped + self.from, start: start + self.from })
    }

    /// Reads the record at `self.at`, whose first quote is at `quote` (from
    /// `self.at`). The fields before the one that holds it have no quote and no
    /// line break: they are cut as a plain line's. csv_core reads the rest, from
    /// that field's first byte, where it reads as at a record's first byte (no
    /// line break can be there to skip); its state after its last record, or
    /// its first read, goes on from there.
    fn read_quoted(&mut self, record: &mut Record, quote: usize) -> Option<()> {
        use csv_core::ReadRecordResult as Read;
        let field_start = memchr::memrchr(self.delimiter, &self.bytes[self.at..self.at + quote]).map_or(0, |d| d + 1);
        if field_start > 0 {
            record.set_plain(&self.bytes[self.at..self.at + field_start - 1], self.delimiter);
        } else {
            record.bytes.clear();
            record.cells.clear();
        }
        let control = field_start > 0 && !record.free_of_controls;
        let base = record.bytes.len();
        let rest = &self.bytes[self.at + field_start..];
        // csv_core counts the LFs it reads.
        let lines_before = self.quoted.line();
        let (mut read, mut written, mut ends) = (0, 0, 0);
        // Room for a short record; a longer one doubles it as csv_core asks.
        // (Never up to the capacity: after one long line that would zero
        // megabytes for every quoted record after it.)
        record.bytes.resize(base + rest.len().clamp(1, 256), 0);
        if record.ends.is_empty() {
            record.ends.resize(32, 0);
        }
        loop {
            // The whole rest of the text is given, so an empty input is the end
            // of the text, which ends the last record.
            let (result, n_read, n_written, n_ends) =
                self.quoted.read_record(&rest[read..], &mut record.bytes[base + written..], &mut record.ends[ends..]);
            (read, written, ends) = (read + n_read, written + n_written, ends + n_ends);
            match result {
                Read::InputEmpty => {}
                Read::OutputFull => record.bytes.resize(base + (record.bytes.len() - base) * 2, 0),
                Read::OutputEndsFull => record.ends.resize(record.ends.len() * 2, 0),
                Read::Record => break,
                Read::End => return None,
            }
        }
        record.bytes.truncate(base + written);
        record.free_of_controls = !(control || crate::scan::may_hold_control(&record.bytes[base..]));
        // csv_core's ends count from the first byte it wrote for the record.
        let mut start = base;
        for &end in &record.ends[..ends] {
            record.cells.push((start, base + end));
            start = base + end;
        }
        self.lines += self.quoted.line() - lines_before;
        self.at += field_start + read;
        Some(())
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
        self.at + self.from
    }
}

/// The text from its second line when its first is Entra's `version:v1.0`
/// (as `vendor::is_entra_version_line` tells it, delimiters aside).
fn past_version_line(text: &str) -> &str {
    let start = text.trim_start_matches('\u{feff}');
    let end = start.find('\n').unwrap_or(start.len());
    let first = &start[..end];
    let cells = first.split([',', ';', '\t']);
    if crate::vendor::is_entra_version_line(cells) {
        start.get(end + 1..).unwrap_or("")
    } else {
        text
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
        // Lines are numbered in 32 bits in the per-row indexes; an upload is far
        // smaller (50 MB by default), and WebAssembly cannot hold such a file.
        let refused = too_large(text.len());
        if refused {
            diagnostics.push(Diagnostic::file(Severity::Error, TOO_LARGE));
        }
        let delimiter = match delimiter {
            Some(given) => given,
            None if refused => Delimiter::Comma,
            // Read off the heading line, past Entra's `version:v1.0`.
            None => dialect::detect(past_version_line(&text)),
        };
        let mut source = Source {
            text,
            encoding: decoded.encoding,
            delimiter,
            format: Format::Standard,
            layout: None,
            diagnostics,
            version_line: false,
            lines: Default::default(),
        };

        if refused {
            return source;
        }
        let mut records = Records::new(&source.text, delimiter);
        let mut record = Record::new();
        let Some(mut line) = records.next_filled(&mut record) else {
            source.diagnostics.push(Diagnostic::file(Severity::Error, EMPTY_FILE));
            return source;
        };
        if crate::vendor::is_entra_version_line(record.iter()) {
            source.version_line = true;
            let Some(next) = records.next_filled(&mut record) else {
                source.diagnostics.push(Diagnostic::file(Severity::Error, EMPTY_FILE));
                return source;
            };
            line = next;
        }
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
        // Past the heading line (and Entra's version line before it).
        let mut skipped = Record::new();
        for _ in 0..1 + usize::from(self.version_line) {
            records.next_filled(&mut skipped);
        }
        records
    }

    /// A guess of the number of rows, to size per-row indexes once (exact for a
    /// text of up to 4 MiB).
    /// A large text's lines are counted in two samples (its start and its
    /// middle): counting them all is a pass over the whole file, 20 ms of a
    /// million rows, only to size tables that grow anyway when the guess is low.
    pub fn expected_rows(&self) -> usize {
        *self.lines.get_or_init(|| {
            const SAMPLE: usize = 1 << 20;
            let bytes = self.text.as_bytes();
            let lines = |range: &[u8]| memchr::memchr_iter(b'\n', range).count();
            if bytes.len() <= 4 * SAMPLE {
                return lines(bytes) + 1;
            }
            let middle = bytes.len() / 2;
            let sampled = lines(&bytes[..SAMPLE]) + lines(&bytes[middle..middle + SAMPLE]);
            // An eighth more, as the lines of the rest may be shorter.
            let per_byte = sampled as f64 / (2 * SAMPLE) as f64;
            (per_byte * bytes.len() as f64 * 1.125) as usize + 16
        })
    }

    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// The records of `text` with their editor lines, as [`Records`] reads them and
/// as the `csv` crate reads them, which `Records` must agree with: for the
/// property test and the fuzz target (feature `testing`).
#[cfg(feature = "testing")]
pub fn both_readings(text: &str, delimiter: Delimiter) -> [Vec<(u64, Vec<String>)>; 2] {
    let mut ours = Vec::new();
    let (mut records, mut record) = (Records::new(text, delimiter), Record::new());
    while let Some(line) = records.next_into(&mut record) {
        ours.push((line, record.iter().map(str::to_owned).collect()));
    }
    let mut theirs = Vec::new();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter.byte())
        .from_reader(text.as_bytes());
    let mut record = csv::ByteRecord::new();
    while reader.read_byte_record(&mut record).unwrap_or(false) {
        // The csv crate's position is where the record before stopped: the line
        // breaks from there to the record's first byte are on lines before it.
        // (And the BOM it drops at the start is not on a line of its own.)
        let position = record.position().expect("the reader sets a record's position");
        let bom = if position.byte() == 0 && text.starts_with('\u{feff}') { 3 } else { 0 };
        let after = &text.as_bytes()[position.byte() as usize + bom..];
        let breaks = after.iter().take_while(|b| matches!(b, b'\r' | b'\n'));
        let line = position.line() + breaks.filter(|&&b| b == b'\n').count() as u64;
        let cells = record.iter().map(|cell| String::from_utf8_lossy(cell).into_owned()).collect();
        theirs.push((line, cells));
    }
    [ours, theirs]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_whose_lines_could_pass_32_bits_is_too_large() {
        assert!(!too_large(0) && !too_large(u32::MAX as usize - 1));
        assert!(too_large(u32::MAX as usize));
        #[cfg(target_pointer_width = "64")]
        assert!(too_large(u32::MAX as usize + 1));
    }

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
