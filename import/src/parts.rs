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
use crate::threads::joined;

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

/// One part: where it starts, the line breaks before it (for its rows' line
/// numbers), and about how many rows it has.
struct Part {
    start: usize,
    lines_before: u64,
    rows: usize,
}

/// Calls `each` for every data row of `source` that is not blank, with its
/// line, in up to `parts` parts side by side. Each part has its own state, made
/// by `new_state` from a number of rows to make room for: the whole file's for
/// the first part, to which the others are meant to be appended, and about its
/// own for each other part. The states come back in file order, so that taking
/// them in order gives what one pass gives.
///
/// The first part starts at once. Where the others start is found beside it,
/// by the thread that reads the second part (a pass over the bytes before each
/// start); the first part needs its end only when it reaches the earliest place
/// a second part can start.
pub(crate) fn each_row<S: Send>(
    source: &Source<'_>,
    parts: usize,
    new_state: impl Fn(usize) -> S + Sync,
    each: impl Fn(&mut S, &Record, u64) + Sync,
) -> Vec<S> {
    let mut first = source.data_rows();
    if parts <= 1 || cfg!(target_arch = "wasm32") {
        let mut state = new_state(source.expected_rows());
        read_part(&mut first, End::Known(None), &mut state, &each);
        return vec![state];
    }
    let text = source.text.as_bytes();
    let data_start = first.position();
    // Every part after the first starts after its planned start (see
    // `plan_parts`), the earliest of which is this: where the first part's
    // share of the bytes ends, so it waits for its end only if the planning
    // takes longer than its own reading.
    let earliest = data_start + (text.len() - data_start) / parts;
    let (first_end, end_of_first) = std::sync::mpsc::sync_channel::<Option<usize>>(1);
    std::thread::scope(|scope| {
        let (new_state, each) = (&new_state, &each);
        let later = scope.spawn(move || {
            let plan = plan_parts(text, data_start, parts, source.expected_rows());
            // Never blocks (room for one); if the first part is done already, unread.
            let _ = first_end.send(plan.get(1).map(|p| p.start));
            let read = |part: &Part, end: Option<usize>| {
                let mut rows = Records::starting_at(&source.text, source.delimiter, part.start, part.lines_before);
                let mut state = new_state(part.rows);
                let reached_end = read_part(&mut rows, End::Known(end), &mut state, each);
                (state, reached_end)
            };
            let ends: Vec<Option<usize>> = plan.iter().skip(2).map(|p| Some(p.start)).chain([None]).collect();
            std::thread::scope(|inner| {
                let others: Vec<_> = (2..plan.len())
                    .map(|k| {
                        let (part, end, read) = (&plan[k], ends[k - 1], &read);
                        inner.spawn(move || read(part, end))
                    })
                    .collect();
                let mut states = Vec::new();
                if plan.len() > 1 {
                    states.push(read(&plan[1], ends[0]));
                }
                for other in others {
                    states.push(joined(other));
                }
                states
            })
        });
        let mut state = new_state(source.expected_rows());
        let mut reached_end =
            read_part(&mut first, End::Pending { from: earliest, end: &end_of_first }, &mut state, each);
        let mut states = vec![state];
        for (state, next_reached_end) in joined(later) {
            // The part before read on to the end of the file: this one's rows are read.
            if reached_end {
                states.push(state);
                reached_end = next_reached_end;
            }
        }
        states
    })
}

/// Where a part ends: known, or (for the first part) to be received once it
/// reaches `from`. `None`: at the end of the file.
enum End<'a> {
    Known(Option<usize>),
    Pending { from: usize, end: &'a std::sync::mpsc::Receiver<Option<usize>> },
}

/// Reads records until the one that starts at or after `end`, which must be the
/// first record of the next part; returns true when it is. Otherwise (or with no
/// `end`) reads to the end of the file and returns false.
fn read_part<S>(rows: &mut Records<'_>, mut end: End<'_>, state: &mut S, each: &impl Fn(&mut S, &Record, u64)) -> bool {
    let mut record = Record::new();
    while let Some(at) = rows.next_located(&mut record) {
        if let End::Pending { from, end: pending } = end {
            if at.start >= from {
                // A planner that panicked sent nothing: read on (its panic is
                // the caller's when it joins the planner's thread).
                end = End::Known(pending.recv().ok().flatten());
            }
        }
        if let End::Known(Some(stop)) = end {
            if at.start >= stop {
                // Only line breaks lie between where the last record stopped and
                // this one's first byte: a reader starting at `stop` begins here.
                if at.stopped <= stop {
                    return true;
                }
                end = End::Known(None);
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
    let (mut quotes, mut lines) = (0usize, memchr::memchr_iter(b'\n', &text[..data_start]).count());
    let mut plan = vec![Part { start: data_start, lines_before: lines as u64, rows: 0 }];
    let mut at = data_start;
    let span = text.len() - data_start;
    for k in 1..parts {
        let target = data_start + span / parts * k;
        if target <= at {
            continue;
        }
        let (q, n) = quotes_and_lines(&text[at..target]);
        (quotes, lines, at) = (quotes + q, lines + n, target);
        while at < target + MAX_SEEK_BYTES {
            let Some(lf) = memchr::memchr(b'\n', &text[at..]) else { break };
            quotes += memchr::memchr_iter(b'"', &text[at..at + lf]).count();
            lines += 1;
            at += lf + 1;
            // A BOM where a reader starts would be dropped by it: not a start.
            if quotes % 2 == 0 && at < text.len() && text[at] != 0xEF {
                plan.push(Part { start: at, lines_before: lines as u64, rows: 0 });
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

/// The quotes and the line feeds in `bytes`, in one pass: thirty-two byte-wide
/// counters of each, which the compiler turns into SIMD, emptied every 255
/// blocks before they can overflow. Two counts by `memchr` were two passes over
/// memory (half a large file each, 10 ms at 1M rows).
fn quotes_and_lines(bytes: &[u8]) -> (usize, usize) {
    let (mut quotes, mut lines) = (0, 0);
    let mut blocks = bytes.chunks_exact(32);
    loop {
        let (mut q, mut n) = ([0u8; 32], [0u8; 32]);
        let mut taken = 0;
        for block in blocks.by_ref().take(255) {
            let block: &[u8; 32] = block.try_into().expect("a block of 32");
            for i in 0..32 {
                q[i] += u8::from(block[i] == b'"');
                n[i] += u8::from(block[i] == b'\n');
            }
            taken += 1;
        }
        quotes += q.iter().map(|&c| usize::from(c)).sum::<usize>();
        lines += n.iter().map(|&c| usize::from(c)).sum::<usize>();
        if taken < 255 {
            break;
        }
    }
    for &b in blocks.remainder() {
        quotes += usize::from(b == b'"');
        lines += usize::from(b == b'\n');
    }
    (quotes, lines)
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
    fn a_first_part_that_ends_before_any_split_leaves_the_rest_unread_twice() {
        // The records stop at a tenth of the text; the rest is blank lines, where
        // the later parts are planned to start (and find no record).
        let mut text = String::from("userId,email\n");
        for i in 0..500 {
            text.push_str(&format!("u{i},u{i}@x.io\n"));
        }
        text.push_str(&"\r\n".repeat(60_000));
        for parts in [2, 3] {
            let read = rows_in_parts(&text, parts);
            assert_eq!(read.concat(), one_pass(&text), "{parts} parts");
            assert_eq!(read.concat().len(), 500);
        }
    }

    #[test]
    fn a_part_that_finds_no_start_near_its_share_is_left_out() {
        // The second of three planned starts falls inside a quoted field longer
        // than a part looks past its share; the third does not. Two parts.
        let mut text = String::from("userId,email,jobTitle\n");
        let row = |i: usize| format!("u{i},u{i}@x.io,x\n");
        (0..60_000).for_each(|i| text.push_str(&row(i)));
        text.push_str(&format!("big,big@x.io,\"{}\"\n", "line\n".repeat(300_000)));
        (60_000..140_000).for_each(|i| text.push_str(&row(i)));
        let parts = rows_in_parts(&text, 3);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts.concat(), one_pass(&text));
        assert_eq!(parts.concat().len(), 140_001);
    }

    #[test]
    fn quotes_and_line_feeds_are_counted_at_every_length() {
        // Around a block (32 bytes) and around the counters' emptying (255 blocks).
        for len in [0, 1, 31, 32, 33, 255 * 32 - 1, 255 * 32, 255 * 32 + 1, 3 * 255 * 32 + 77] {
            let mixed: Vec<u8> = (0..len).map(|i| [b'"', b'\n', b'a', b'\r'][(i % 4 + i % 3) % 4]).collect();
            for bytes in [mixed, vec![b'"'; len], vec![b'\n'; len]] {
                let count = |b: u8| bytes.iter().filter(|&&x| x == b).count();
                assert_eq!(quotes_and_lines(&bytes), (count(b'"'), count(b'\n')), "{len} bytes");
            }
        }
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
