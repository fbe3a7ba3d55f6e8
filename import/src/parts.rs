//! A large file's data rows read in parts side by side, one part per core, on
//! native targets (WebAssembly has one thread here, and reads in one part).
//!
//! A part starts at a line break that looks like the end of a record: an even
//! number of quotes before it means it is not inside a quoted field. Quotes
//! where RFC 4180 does not put them could fool that count, so it is only a guess:
//! the part before checks it with the real reader, which must stop exactly there.
//! When it does not, that part reads on to the end of the file, and the parts
//! after it are dropped. Either way every row is read once, by one reader that
//! started at a record's beginning, so the rows, their lines and their order are
//! those of one pass.
use crate::source::{Record, Records, Source};

/// A part smaller than this is not worth a thread.
const MIN_PART_BYTES: usize = 256 << 10;
/// How far past its planned start a part looks for a line break that can start it.
const MAX_SEEK_BYTES: usize = 1 << 20;
const MAX_PARTS: usize = 8;

/// How many parts to read `source` in: one per core, each at least
/// [`MIN_PART_BYTES`].
pub(crate) fn count(source: &Source<'_>) -> usize {
    if cfg!(target_arch = "wasm32") {
        return 1;
    }
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    cores.min(MAX_PARTS).min(source.text.len() / MIN_PART_BYTES).max(1)
}

/// One part: where it starts, and about how many rows it has.
struct Part {
    start: usize,
    rows: usize,
}

/// Calls `each` for every data row of `source` that is not blank, with its
/// line, in up to `parts` parts side by side. Each part has its own state, made
/// by `new_state` from a number of rows to make room for: the whole file's for
/// the first part, to which the others are meant to be appended, and about its
/// own for each other part. The states come back in file order, so that taking
/// them in order gives what one pass gives.
pub(crate) fn each_row<S: Send>(
    source: &Source<'_>,
    parts: usize,
    new_state: impl Fn(usize) -> S + Sync,
    each: impl Fn(&mut S, &Record, u64) + Sync,
) -> Vec<S> {
    let mut first = source.data_rows();
    let plan = plan_parts(source.text.as_bytes(), first.position(), parts, source.expected_rows());
    if plan.len() == 1 || cfg!(target_arch = "wasm32") {
        let mut state = new_state(source.expected_rows());
        read_part(&mut first, None, &mut state, &each);
        return vec![state];
    }
    let ends: Vec<Option<usize>> = plan.iter().skip(1).map(|p| Some(p.start)).chain([None]).collect();
    std::thread::scope(|scope| {
        let later: Vec<_> = plan[1..]
            .iter()
            .zip(&ends[1..])
            .map(|(part, &end)| {
                let (new_state, each) = (&new_state, &each);
                scope.spawn(move || {
                    // The lines before the part, for its rows' line numbers: counted
                    // here, side by side with the parts before, not before any starts.
                    let lines_before = memchr::memchr_iter(b'\n', &source.text.as_bytes()[..part.start]).count();
                    let mut rows =
                        Records::starting_at(&source.text, source.delimiter, part.start, lines_before as u64);
                    let mut state = new_state(part.rows);
                    let reached_end = read_part(&mut rows, end, &mut state, each);
                    (state, reached_end)
                })
            })
            .collect();
        let mut state = new_state(source.expected_rows());
        let mut reached_end = read_part(&mut first, ends[0], &mut state, &each);
        let mut states = vec![state];
        for handle in later {
            let (state, next_reached_end) = handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            // The part before read on to the end of the file: this one's rows are read.
            if reached_end {
                states.push(state);
                reached_end = next_reached_end;
            }
        }
        states
    })
}

/// Reads records until the one that starts at or after `end`, which must be the
/// first record of the next part; returns true when it is. Otherwise (or with no
/// `end`) reads to the end of the file and returns false.
fn read_part<S>(
    rows: &mut Records<'_>,
    mut end: Option<usize>,
    state: &mut S,
    each: &impl Fn(&mut S, &Record, u64),
) -> bool {
    let mut record = Record::new();
    while let Some(at) = rows.next_located(&mut record) {
        if let Some(stop) = end {
            if at.start >= stop {
                // Only line breaks lie between where the last record stopped and
                // this one's first byte: a reader starting at `stop` begins here.
                if at.stopped <= stop {
                    return true;
                }
                end = None;
            }
        }
        if !record.is_blank() {
            each(state, &record, at.line);
        }
    }
    false
}

/// Where each part starts: after the line break nearest past an even share of
/// the rows' bytes with an even number of quotes before it. Fewer parts when no
/// such line break is near.
fn plan_parts(text: &[u8], data_start: usize, parts: usize, text_lines: usize) -> Vec<Part> {
    let quotes_in = |range: &[u8]| memchr::memchr_iter(b'"', range).count();
    let mut plan = vec![Part { start: data_start, rows: 0 }];
    let (mut at, mut quotes) = (data_start, 0usize);
    let span = text.len() - data_start;
    for k in 1..parts {
        let target = data_start + span / parts * k;
        if target <= at {
            continue;
        }
        quotes += quotes_in(&text[at..target]);
        at = target;
        while at < target + MAX_SEEK_BYTES {
            let Some(lf) = memchr::memchr(b'\n', &text[at..]) else { break };
            quotes += quotes_in(&text[at..at + lf]);
            at += lf + 1;
            // A BOM where a reader starts would be dropped by it: not a start.
            if quotes % 2 == 0 && at < text.len() && text[at] != 0xEF {
                plan.push(Part { start: at, rows: 0 });
                break;
            }
        }
    }
    // Rows in proportion to bytes: a guess, to size each part's state.
    let ends: Vec<usize> = plan.iter().skip(1).map(|p| p.start).chain([text.len()]).collect();
    for (part, end) in plan.iter_mut().zip(ends) {
        part.rows = (text_lines as f64 * (end - part.start) as f64 / span.max(1) as f64) as usize + 1;
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::HeadingMapping;

    fn rows_in_parts(text: &str, parts: usize) -> Vec<Vec<(u64, String)>> {
        let source = Source::open(text.as_bytes(), &HeadingMapping::new(), None);
        each_row(
            &source,
            parts,
            |_| Vec::new(),
            |seen, record, line| seen.push((line, record.get(0).unwrap().to_owned())),
        )
    }

    fn one_pass(text: &str) -> Vec<(u64, String)> {
        let source = Source::open(text.as_bytes(), &HeadingMapping::new(), None);
        let (mut rows, mut record, mut seen) = (source.data_rows(), Record::new(), Vec::new());
        while let Some(line) = rows.next_filled(&mut record) {
            seen.push((line, record.get(0).unwrap().to_owned()));
        }
        seen
    }

    #[test]
    fn parts_split_at_record_starts_and_give_the_rows_of_one_pass() {
        let mut text = String::from("userId,email,jobTitle\r\n");
        for i in 0..3000 {
            text.push_str(&format!("u{i},u{i}@x.io,\"Nurse\r\n, \"\"Sister\"\"\"\r\n"));
            if i % 7 == 0 {
                text.push_str("\r\n , \r\n");
            }
        }
        let parts = rows_in_parts(&text, 4);
        assert_eq!(parts.len(), 4, "every split is at a record's start");
        assert!(parts.iter().all(|p| !p.is_empty()));
        assert_eq!(parts.concat(), one_pass(&text));
    }

    #[test]
    fn a_split_inside_a_field_is_caught_by_the_reader_and_the_part_before_reads_on() {
        // A stray quote in an unquoted field (read as a plain character) makes the
        // quote count odd: every guess after it is inside a quoted field, and
        // the next quoted field makes the count even at a line inside it.
        let mut text = String::from("userId,email,jobTitle\n");
        for i in 0..2000 {
            let title = match i {
                100 => "5\" screen".to_owned(),
                _ if i % 50 == 0 => "\"line one\nline two\"".to_owned(),
                _ => "x".to_owned(),
            };
            text.push_str(&format!("u{i},u{i}@x.io,{title}\n"));
        }
        let parts = rows_in_parts(&text, 3);
        assert_eq!(parts.len(), 1, "both guesses were wrong; the first part read every row");
        assert_eq!(parts.concat(), one_pass(&text));
        assert_eq!(parts.concat().len(), 2000);
    }
}
