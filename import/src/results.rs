//! Files made from an uploaded file: the results file (every line with a
//! `result` column) and the retry file (the heading line and the failed rows),
//! written in the upload's own delimiter and encoding, formulas neutralised.
//! The retry file is a new upload and keeps every cell; the results file blanks
//! passwords.
use crate::decode::{decode, Encoding};
use crate::dialect::{self, Delimiter};
use crate::export::{neutralise, unneutralise};
use crate::field::Field;
use crate::layout::{ColumnRole, HeadingMapping};
use crate::source::{Record, Records};
use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;

/// Parts of this size go to the sink as the file is written: a million lines
/// are 100 MB, which a download or a file on disk need never hold at once.
const PART: usize = 64 * 1024;

/// A buffer for a file of `bytes` written out again in memory, with a column
/// added: sized once, as growing by doubling would hold the old and the new
/// buffer at once.
pub fn buffer_for(bytes: &[u8]) -> Vec<u8> {
    Vec::with_capacity(bytes.len() + bytes.len() / 2 + 1024)
}

fn rewrite(
    bytes: &[u8],
    delimiter: Option<Delimiter>,
    keep_lines: bool,
    row: impl FnMut(Option<u64>, &mut Vec<String>) -> bool,
) -> Vec<u8> {
    rewrite_into(bytes, delimiter, keep_lines, row, buffer_for(bytes)).expect("writing to memory cannot fail")
}

/// [`rewrite`] into `sink`, a part at a time, in the file's encoding.
fn rewrite_into<W: Write>(
    bytes: &[u8],
    delimiter: Option<Delimiter>,
    keep_lines: bool,
    mut row: impl FnMut(Option<u64>, &mut Vec<String>) -> bool,
    mut sink: W,
) -> std::io::Result<W> {
    let decoded = decode(bytes);
    let encoding: Encoding = decoded.encoding;
    let text = decoded.text;
    let delimiter = delimiter.unwrap_or_else(|| dialect::detect(&text));
    // Line breaks as the file has them (its first one decides).
    let crlf = text.find('\n').is_some_and(|at| text[..at].ends_with('\r'));
    let newline: &[u8] = if crlf { b"\r\n" } else { b"\n" };
    let mut records = Records::new(&text, delimiter);
    // Shared with the writer, so that blank lines can go in between its records.
    let out = Shared(Rc::new(RefCell::new(Vec::with_capacity(2 * PART))));
    let mut writer = csv::WriterBuilder::new()
        .delimiter(delimiter.byte())
        .terminator(if crlf { csv::Terminator::CRLF } else { csv::Terminator::Any(b'\n') })
        .flexible(true)
        .from_writer(out.clone());
    let mut first_part = true;
    let mut record = Record::new();
    let mut header = true;
    // The line the next record written starts on.
    let mut at_line = 1;
    while let Some(line) = records.next_filled(&mut record) {
        let mut cells: Vec<String> = record.iter().map(str::to_owned).collect();
        // Entra's `version:v1.0` before the headings stays as it is, so that
        // the file is still Entra's template when uploaded again.
        let version_line = header && at_line == 1 && crate::vendor::is_entra_version_line(record.iter());
        let keep = version_line || row(if header { None } else { Some(line) }, &mut cells);
        header = header && version_line;
        if !keep {
            continue;
        }
        let mut before = 0;
        if keep_lines {
            // Blank lines stay, so that every row is on the line its messages name.
            writer.flush()?;
            let mut buffer = out.0.borrow_mut();
            while at_line < line {
                buffer.extend_from_slice(newline);
                at_line += 1;
            }
            before = buffer.len();
        }
        // A cell that already carries the mark (an export, edited and uploaded)
        // is written with one mark, not two: the reader takes one off, so a
        // second would reach the next upload as part of the value.
        writer.write_record(cells.iter().map(|c| neutralise(unneutralise(c)).into_owned()))?;
        writer.flush()?;
        let mut buffer = out.0.borrow_mut();
        if keep_lines {
            at_line += memchr::memchr_iter(b'\n', &buffer[before..]).count() as u64;
        }
        if buffer.len() >= PART {
            pass_on(&mut buffer, encoding, &mut first_part, &mut sink)?;
        }
    }
    writer.flush()?;
    drop(writer);
    let mut rest = out.0.borrow_mut();
    if !rest.is_empty() || first_part {
        pass_on(&mut rest, encoding, &mut first_part, &mut sink)?;
    }
    Ok(sink)
}

/// Hands the records written so far to `sink` in the file's encoding. They
/// end at a record's end, so they hold whole characters.
fn pass_on(buffer: &mut Vec<u8>, encoding: Encoding, first: &mut bool, sink: &mut impl Write) -> std::io::Result<()> {
    let text = std::str::from_utf8(buffer).expect("csv writes the UTF-8 it is given");
    encoding.encode_part(text, *first, sink)?;
    *first = false;
    buffer.clear();
    Ok(())
}

/// The output of [`rewrite`], shared between the csv writer and the blank lines.
#[derive(Clone)]
struct Shared(Rc<RefCell<Vec<u8>>>);

impl std::io::Write for Shared {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// [`results_file_into`] whole in memory: for tests (feature `testing`).
#[cfg(any(test, feature = "testing"))]
pub fn results_file(
    bytes: &[u8],
    delimiter: Option<Delimiter>,
    mapping: &HeadingMapping,
    mut result_of: impl FnMut(u64) -> String,
) -> Vec<u8> {
    with_column(bytes, delimiter, mapping, "result", Some(&mut result_of))
}

/// The uploaded file with a `result` column: `result_of(line)` for each data row,
/// written to `sink` a part at a time (a download, a file on disk), never held
/// whole; returns the sink. Passwords are blanked (the column stays): the
/// results file is downloaded and mailed, and a password in it would travel
/// with it. `mapping` is the upload's heading mapping, which may name a
/// password column.
pub fn results_file_into<W: Write>(
    bytes: &[u8],
    delimiter: Option<Delimiter>,
    mapping: &HeadingMapping,
    mut result_of: impl FnMut(u64) -> String,
    sink: W,
) -> std::io::Result<W> {
    with_column_into(bytes, delimiter, mapping, "result", Some(&mut result_of), sink)
}

/// [`original_file_into`] whole in memory: for tests (feature `testing`).
#[cfg(any(test, feature = "testing"))]
pub fn original_file(bytes: &[u8], delimiter: Option<Delimiter>, mapping: &HeadingMapping) -> Vec<u8> {
    with_column(bytes, delimiter, mapping, "", None)
}

/// The uploaded file as the admin sent it, to download again, written to
/// `sink` a part at a time; returns the sink. Line for line, in its delimiter
/// and encoding, but with its passwords blanked and formulas neutralised, as in
/// the results file. Other admins of the tenant may download it, and new
/// users' first passwords are not theirs to read.
pub fn original_file_into<W: Write>(
    bytes: &[u8],
    delimiter: Option<Delimiter>,
    mapping: &HeadingMapping,
    sink: W,
) -> std::io::Result<W> {
    with_column_into(bytes, delimiter, mapping, "", None, sink)
}

/// The file with its password cells blanked and, with `result_of`, a column
/// headed `heading` that it fills line by line.
fn with_column(
    bytes: &[u8],
    delimiter: Option<Delimiter>,
    mapping: &HeadingMapping,
    heading: &str,
    result_of: Option<&mut dyn FnMut(u64) -> String>,
) -> Vec<u8> {
    with_column_into(bytes, delimiter, mapping, heading, result_of, buffer_for(bytes))
        .expect("writing to memory cannot fail")
}

fn with_column_into<W: Write>(
    bytes: &[u8],
    delimiter: Option<Delimiter>,
    mapping: &HeadingMapping,
    heading: &str,
    mut result_of: Option<&mut dyn FnMut(u64) -> String>,
    sink: W,
) -> std::io::Result<W> {
    let mut passwords: Vec<usize> = Vec::new();
    let row = |line: Option<u64>, cells: &mut Vec<String>| {
        match line {
            None => {
                // The password column as the file's format reads it (Entra's
                // `Initial password [passwordProfile] Required`, Google's
                // `Password [Required]`)...
                let headings: Vec<&str> = cells.iter().map(String::as_str).collect();
                let layout = crate::layout::resolve(&headings, 1, mapping).0;
                let read_as_password = |at: usize| {
                    layout.as_ref().is_some_and(|l| l.columns[at].role == ColumnRole::Field(Field::Password))
                };
                passwords = cells
                    .iter()
                    .enumerate()
                    // ...and, whatever it was mapped to, a column named as a
                    // password: one the admin mapped to "ignore" still holds passwords.
                    .filter(|&(at, heading)| {
                        read_as_password(at)
                            || mapping.get(heading.trim()) == Some(&Some(Field::Password))
                            || Field::from_heading(heading) == Some(Field::Password)
                    })
                    .map(|(at, _)| at)
                    .collect();
                if result_of.is_some() {
                    cells.push(heading.to_owned());
                }
            }
            Some(line) => {
                for &at in &passwords {
                    if let Some(cell) = cells.get_mut(at) {
                        cell.clear();
                    }
                }
                if let Some(result_of) = result_of.as_mut() {
                    cells.push(result_of(line));
                }
            }
        }
        true
    };
    rewrite_into(bytes, delimiter, true, row, sink)
}

/// The file with a `problem` column: each line's problems, as the browser
/// found them, to fix the file in a spreadsheet (`problem_of(line)`, empty for
/// a line without any). Passwords blanked and formulas neutralised, as every
/// file Muster gives out.
pub fn problems_file(
    bytes: &[u8],
    delimiter: Option<Delimiter>,
    mapping: &HeadingMapping,
    mut problem_of: impl FnMut(u64) -> String,
) -> Vec<u8> {
    with_column(bytes, delimiter, mapping, "problem", Some(&mut problem_of))
}

/// The heading line and the rows for which `failed(line)` holds: a new upload
/// for "Retry failed rows".
pub fn retry_file(bytes: &[u8], delimiter: Option<Delimiter>, mut failed: impl FnMut(u64) -> bool) -> Vec<u8> {
    rewrite(bytes, delimiter, false, |line, _| line.is_none_or(&mut failed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_the_files_delimiter_encoding_and_lines() {
        let original = Encoding::Utf16Le.encode("userId\temail\r\npat\t=cmd\r\n\r\nzoë\t\"a\r\nb\"\r\n");
        let out = results_file(&original, None, &HeadingMapping::new(), |line| format!("line {line}"));
        let back = decode(&out);
        assert_eq!(back.encoding, Encoding::Utf16Le);
        // The blank line 3 stays: each row is on its own line number.
        assert_eq!(back.text, "userId\temail\tresult\r\npat\t'=cmd\tline 2\r\n\r\nzoë\t\"a\r\nb\"\tline 4\r\n");
        let lf =
            results_file(b"userId,email\n\n\na,a@x.io\nb,\"x\ny\"\n\nc,c\n", None, &HeadingMapping::new(), |line| {
                format!("line {line}")
            });
        assert_eq!(
            String::from_utf8(lf).unwrap(),
            "userId,email,result\n\n\na,a@x.io,line 4\nb,\"x\ny\",line 5\n\nc,c,line 8\n"
        );
    }

    #[test]
    fn a_results_file_written_in_parts_is_the_file_in_its_encoding_with_one_bom() {
        // Several parts: 20 000 lines of 20-odd bytes and their results.
        let mut text = String::from("userId,email\n");
        for i in 0..20_000 {
            text.push_str(&format!("zoë{i},z{i}@x.io\n"));
        }
        let expected_text = {
            let mut out = String::from("userId,email,result\n");
            for (i, line) in text.lines().skip(1).enumerate() {
                out.push_str(&format!("{line},Added {}\n", i + 2));
            }
            out
        };
        for encoding in [Encoding::Utf8, Encoding::Utf8Bom, Encoding::Utf16Le, Encoding::Utf16Be, Encoding::Windows1252]
        {
            let original = encoding.encode(&text);
            /// A sink that takes a few bytes at a time, as a socket may.
            struct Trickle(Vec<u8>);
            impl Write for Trickle {
                fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                    let n = bytes.len().min(7);
                    self.0.extend_from_slice(&bytes[..n]);
                    Ok(n)
                }
                fn flush(&mut self) -> std::io::Result<()> {
                    Ok(())
                }
            }
            let result_of = |line| format!("Added {line}");
            let mapping = HeadingMapping::new();
            let streamed = results_file_into(&original, None, &mapping, result_of, Trickle(Vec::new())).unwrap();
            assert!(streamed.0.len() > 2 * PART, "{encoding:?}: the file is larger than a part");
            assert_eq!(streamed.0, encoding.encode(&expected_text), "{encoding:?}: one BOM, every line");
            assert_eq!(streamed.0, results_file(&original, None, &mapping, result_of), "{encoding:?}");
        }
    }

    #[test]
    fn results_never_repeat_a_password() {
        let file = b"userId,Password,secret\na,Hunter2hunter2,x1\nb,,x2\n";
        let out = results_file(file, None, &HeadingMapping::new(), |_| "Added".into());
        assert_eq!(String::from_utf8(out).unwrap(), "userId,Password,secret,result\na,,x1,Added\nb,,x2,Added\n");
        // A column the admin mapped to the password is blanked too.
        let mapping = HeadingMapping::from([("secret".to_owned(), Some(Field::Password))]);
        let out = results_file(b"userId,secret\na,Hunter2hunter2\n", None, &mapping, |_| "Added".into());
        assert_eq!(String::from_utf8(out).unwrap(), "userId,secret,result\na,,Added\n");
    }

    #[test]
    fn the_original_comes_back_without_passwords_or_formulas() {
        let file = Encoding::Utf16Le.encode("userId;password;email\r\n\r\na;Hunter2hunter2;=x\r\n");
        let out = original_file(&file, None, &HeadingMapping::new());
        let back = decode(&out);
        assert_eq!(back.encoding, Encoding::Utf16Le);
        assert_eq!(back.text, "userId;password;email\r\n\r\na;;'=x\r\n");
    }

    #[test]
    fn a_password_column_mapped_to_ignore_is_still_blanked() {
        let mapping = HeadingMapping::from([("password".to_owned(), None)]);
        let out = results_file(b"userId,password\na,Hunter2hunter2\n", None, &mapping, |_| "Added".into());
        assert_eq!(String::from_utf8(out).unwrap(), "userId,password,result\na,,Added\n");
        let out = original_file(b"userId,password\na,Hunter2hunter2\n", None, &mapping);
        assert_eq!(String::from_utf8(out).unwrap(), "userId,password\na,\n");
    }

    #[test]
    fn formula_marks_are_not_doubled_through_export_upload_and_retry() {
        // An exported cell carries one mark; the results and retry files keep
        // exactly one, so uploading the retry file reads the value exported.
        let file = b"userId,jobTitle\na,'=SUM(1)\nb,'@home\nc,=raw\nd,''=kept\n";
        let retry = retry_file(file, None, |_| true);
        assert_eq!(
            String::from_utf8(retry.clone()).unwrap(),
            "userId,jobTitle\na,'=SUM(1)\nb,'@home\nc,'=raw\nd,''=kept\n"
        );
        let results = results_file(file, None, &HeadingMapping::new(), |_| "Error".into());
        assert_eq!(
            String::from_utf8(results).unwrap(),
            "userId,jobTitle,result\na,'=SUM(1),Error\nb,'@home,Error\nc,'=raw,Error\nd,''=kept,Error\n"
        );
        // Round trip: what the reader makes of the retry file is the exported value.
        let again = retry_file(&retry, None, |_| true);
        assert_eq!(again, retry);
        for (cell, value) in [("'=SUM(1)", "=SUM(1)"), ("''=kept", "'=kept")] {
            assert_eq!(unneutralise(cell), value);
        }
    }

    #[test]
    fn the_problems_file_says_each_line_s_problems_formula_safe() {
        let file = b"userId,email,password\na,a@x.io,Hunter2hunter2\nb,=bad,\n";
        let out = problems_file(file, None, &HeadingMapping::new(), |line| {
            if line == 3 {
                "=email is not valid".into()
            } else {
                String::new()
            }
        });
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "userId,email,password,problem\na,a@x.io,,\nb,'=bad,,'=email is not valid\n"
        );
    }

    #[test]
    fn retry_keeps_the_heading_and_failed_rows() {
        let out = retry_file(b"userId,email\na,a@x.io\nb,bad\nc,c@x.io\n", None, |line| line == 3);
        assert_eq!(String::from_utf8(out).unwrap(), "userId,email\nb,bad\n");
    }
}
