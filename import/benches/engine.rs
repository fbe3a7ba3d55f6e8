//! `cargo bench -p muster-import --bench engine [-- SIZES...]`
//!
//! Generates users files (default 10k, 100k, 1M rows) and prints, for each: the
//! raw `csv` crate reading it (the baseline, measured in the same run), the
//! engine's read+validate, and planning against a 1M-user directory snapshot:
//! rows per second, MB/s, the ratio to the baseline, and peak memory.
use muster_import::fields::TaskNotification;
use muster_import::plan::validate_in_parts;
use muster_import::{
    plan_with_index, synth, validate, Directory, DirectoryIndex, DirectoryUser, HeadingMapping, Organisation,
    PlanOptions,
};
use std::hint::black_box;

// The server's allocator: `validate` runs in the server binary and its command.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::time::{Duration, Instant};

#[path = "shared/process_memory.rs"]
mod process_memory;
use process_memory::peak_rss_mb;

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut out = None;
    for _ in 0..runs {
        let t = Instant::now();
        let v = f();
        best = best.min(t.elapsed());
        out = Some(v);
    }
    (best, out.expect("at least one run"))
}

/// A tenant of `n` users, whose first half are `u0…` (matched by the files), so a
/// plan meets both existing users and new ones.
fn directory(n: usize) -> Directory {
    let users = (0..n)
        .map(|i| {
            let key = if i < n / 2 { format!("u{i}") } else { format!("other{i}") };
            DirectoryUser {
                id: i as i64,
                email: format!("{key}@example.org"),
                user_id: key,
                external_id: Some(format!("EMP{i:07}")),
                title: None,
                first_name: Some("Pat".into()),
                last_name: Some("Jones".into()),
                mobile: None,
                job_title: Some("Nurse".into()),
                organisation: Some(format!("RXX0{}", i % 3)),
                leaver: false,
                enabled: true,
                reports_to: None,
                roles: vec!["Staff".into()],
                groups: vec![],
                task_notification: TaskNotification::Email,
                change_password_next_time: false,
                is_admin: false,
            }
        })
        .collect();
    Directory {
        tenant_slug: "bench".into(),
        licence_limit: None,
        organisations: (0..3)
            .map(|i| Organisation { code: format!("RXX0{i}"), name: format!("Org {i}"), is_default: i == 0 })
            .collect(),
        roles: vec!["Staff".into(), "Coordinator".into()],
        groups: vec![],
        users,
        active_users: None,
    }
}

fn main() {
    let sizes: Vec<usize> =
        std::env::args().skip(1).filter(|a| !a.starts_with('-')).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![10_000, 100_000, 1_000_000] } else { sizes };
    let snapshot_size = sizes.iter().copied().max().unwrap_or(0).max(1_000_000);
    let t = Instant::now();
    let dir = directory(snapshot_size);
    println!("# directory snapshot: {snapshot_size} users built in {:.2} s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let index = DirectoryIndex::new(&dir);
    println!("# directory index (built once per plan on the server): {:.2} s", t.elapsed().as_secs_f64());
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    println!(
        "# engine validate: on one core (as in the browser), and as `validate` runs by default ({cores} cores here)"
    );
    println!(
        "{:>9} {:>8} | {:>22} | {:>22} | {:>22} {:>5} {:>5} | {:>22} {:>5} {:>5} | {:>22}",
        "rows",
        "MB",
        "raw csv ByteRecord",
        "raw csv StringRecord",
        "engine validate 1 core",
        "%B",
        "%S",
        "engine validate",
        "%B",
        "%S",
        "plan vs 1M snapshot"
    );
    let mut native = Vec::new();
    for n in sizes {
        let bytes = synth::users_csv(n, 42);
        let mb = bytes.len() as f64 / 1e6;
        // Rounds enough for each reading to meet a quiet spell of this shared
        // VM at least once: with 9 at 100k rows, the two-core reading (whose
        // second core is the one the host most often takes) swung from 43% to
        // 64% of the raw reader between runs of the same code.
        let runs = match n {
            n if n >= 1_000_000 => 7,
            n if n >= 100_000 => 15,
            _ => 25,
        };
        let fmt = |d: Duration| format!("{:>9.0} r/s {:>6.0} MB/s", n as f64 / d.as_secs_f64(), mb / d.as_secs_f64());

        // The four readings take turns, round after round, and each keeps its
        // best time: a machine that runs slow for a few seconds (a shared VM
        // does) then slows all four alike instead of the one that ran then,
        // which made the ratios swing by half between runs.
        let raw_bytes = || {
            let mut reader = csv::ReaderBuilder::new().from_reader(&bytes[..]);
            let mut record = csv::ByteRecord::new();
            let mut count = 0usize;
            while reader.read_byte_record(&mut record).expect("valid csv") {
                count += black_box(record.len()).min(1);
            }
            count
        };
        let raw_strings = || {
            let mut reader = csv::ReaderBuilder::new().from_reader(&bytes[..]);
            let mut record = csv::StringRecord::new();
            let mut count = 0usize;
            while reader.read_record(&mut record).expect("valid csv") {
                count += black_box(record.len()).min(1);
            }
            count
        };
        let one_core = || validate_in_parts(&bytes, &HeadingMapping::new(), Some("bench"), Some(1));
        let default = || validate(&bytes, &HeadingMapping::new(), Some("bench"));
        let mut best = [Duration::MAX; 4];
        let (mut one_report, mut report) = (None, None);
        for _ in 0..runs {
            let mut time = |slot: usize, f: &mut dyn FnMut()| {
                let t = Instant::now();
                f();
                best[slot] = best[slot].min(t.elapsed());
            };
            time(0, &mut || assert_eq!(raw_bytes(), n));
            time(1, &mut || assert_eq!(raw_strings(), n));
            time(2, &mut || one_report = Some(one_core()));
            time(3, &mut || report = Some(default()));
        }
        let [raw_bytes, raw_strings, one_core, validated] = best;
        let (one_report, report) = (one_report.expect("a run"), report.expect("a run"));
        assert_eq!((report.rows as usize, report.rows_with_errors), (n, 0), "{:?}", report.problems.first());
        assert_eq!(one_report, report, "one part and many give one verdict");
        native.push(format!("\"{n}\":[{},{}]", one_core.as_secs_f64(), validated.as_secs_f64()));
        let (planned, counts) = best_of(runs.min(3), || {
            let mut seen = 0usize;
            let summary = plan_with_index(&bytes, &index, &PlanOptions::default(), |row| {
                seen += black_box(&row).line.is_some() as usize;
            });
            assert_eq!(seen, n);
            summary.counts
        });
        assert_eq!(counts.error, 0);
        let share = |base: Duration, d: Duration| format!("{:.0}%", 100.0 * base.as_secs_f64() / d.as_secs_f64());
        println!(
            "{n:>9} {mb:>8.1} | {} | {} | {} {:>5} {:>5} | {} {:>5} {:>5} | {}",
            fmt(raw_bytes),
            fmt(raw_strings),
            fmt(one_core),
            share(raw_bytes, one_core),
            share(raw_strings, one_core),
            fmt(validated),
            share(raw_bytes, validated),
            share(raw_strings, validated),
            fmt(planned),
        );
    }
    if let Ok(path) = std::env::var("NATIVE_JSON") {
        // Seconds per size, for the browser benchmark's browser/native column.
        std::fs::write(&path, format!("{{{}}}", native.join(","))).expect("write the native figures");
    }
    println!("# %B, %S: engine validate throughput as a share of raw ByteRecord, StringRecord reading (target >= 50%)");
    println!("# peak memory (VmHWM): {:.0} MB, snapshot included", peak_rss_mb());
}
