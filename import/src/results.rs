//! Files made from an uploaded file: the results file (every line with a
//! `result` column) and the retry file (the heading line and the failed rows),
//! written in the upload's own delimiter and encoding, formulas neutralised.
use crate::decode::{decode, Encoding};
use crate::dialect::{self, Delimiter};
use crate::export::neutralise;
use crate::source::{Record, Records};

fn rewrite(
    bytes: &[u8],
    delimiter: Option<Delimiter>,
    mut row: impl FnMut(Option<u64>, &mut Vec<String>) -> bool,
) -> Vec<u8> {
    let decoded = decode(bytes);
    let encoding: Encoding = decoded.encoding;
    let text = decoded.text;
    let delimiter = delimiter.unwrap_or_else(|| dialect::detect(&text));
    let mut records = Records::new(&text, delimiter);
    let mut writer = csv::WriterBuilder::new()
        .delimiter(delimiter.byte())
        .terminator(csv::Terminator::CRLF)
        .flexible(true)
        // Sized once for the file and its results: a million lines are 100 MB,
        // and growing by doubling would hold the old and the new buffer at once.
        .from_writer(Vec::with_capacity(text.len() + text.len() / 2 + 1024));
    let mut record = Record::new();
    let mut header = true;
    while let Some(line) = records.next_filled(&mut record) {
        let mut cells: Vec<String> = record.iter().map(str::to_owned).collect();
        let keep = row(if header { None } else { Some(line) }, &mut cells);
        header = false;
        if keep {
            writer
                .write_record(cells.iter().map(|c| neutralise(c).into_owned()))
                .expect("writing to memory cannot fail");
        }
    }
    let written = writer.into_inner().expect("writing to memory cannot fail");
    encoding.encode_owned(String::from_utf8(written).expect("csv writes the UTF-8 it is given"))
}

/// The uploaded file with a `result` column: `result_of(line)` for each data row.
pub fn results_file(bytes: &[u8], delimiter: Option<Delimiter>, mut result_of: impl FnMut(u64) -> String) -> Vec<u8> {
    rewrite(bytes, delimiter, |line, cells| {
        cells.push(match line {
            None => "result".to_owned(),
            Some(line) => result_of(line),
        });
        true
    })
}

/// The heading line and the rows for which `failed(line)` holds: a new upload
/// for "Retry failed rows".
pub fn retry_file(bytes: &[u8], delimiter: Option<Delimiter>, mut failed: impl FnMut(u64) -> bool) -> Vec<u8> {
    rewrite(bytes, delimiter, |line, _| line.is_none_or(&mut failed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_the_files_delimiter_encoding_and_lines() {
        let original = Encoding::Utf16Le.encode("userId\temail\r\npat\t=cmd\r\n\r\nzoë\t\"a\r\nb\"\r\n");
        let out = results_file(&original, None, |line| format!("line {line}"));
        let back = decode(&out);
        assert_eq!(back.encoding, Encoding::Utf16Le);
        assert_eq!(back.text, "userId\temail\tresult\r\npat\t'=cmd\tline 2\r\nzoë\t\"a\r\nb\"\tline 4\r\n");
    }

    #[test]
    fn retry_keeps_the_heading_and_failed_rows() {
        let out = retry_file(b"userId,email\na,a@x.io\nb,bad\nc,c@x.io\n", None, |line| line == 3);
        assert_eq!(String::from_utf8(out).unwrap(), "userId,email\r\nb,bad\r\n");
    }
}
