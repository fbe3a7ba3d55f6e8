//! Rules between the rows of one file: the same userId, externalId or email twice
//! (the later line names the earlier one), and `reportsTo` that points at nobody
//! or closes a cycle (naming the lines of the cycle).
//!
//! Rows are registered one at a time; keys are kept as fingerprints and the few
//! texts a message may need go into one arena, so a million rows cost a few tens
//! of megabytes and no allocation per row.
use crate::diagnostic::{Diagnostic, Severity};
use crate::directory::DirectoryIndex;
use crate::export::unneutralise;
use crate::field::Field;
use crate::fields::{parse_delete, Email, ExternalId, UserId};
use crate::fingerprint::{fingerprint, Fingerprint, FingerprintMap};
use crate::layout::Layout;
use crate::normalize_key;
use std::collections::HashMap;
use std::ops::Range;

struct Edge {
    line: u64,
    user: Fingerprint,
    manager: Fingerprint,
    user_text: Range<usize>,
    manager_text: Range<usize>,
}

pub struct FileIndex {
    columns: [Option<usize>; 5],
    user_lines: FingerprintMap<u64>,
    /// Users the file deletes (`transaction` DELETE), by line: nobody may report to them.
    deleted: FingerprintMap<u64>,
    emails: FingerprintMap<u64>,
    externals: FingerprintMap<u64>,
    edges: Vec<Edge>,
    arena: String,
}

impl FileIndex {
    /// `expected_rows` sizes the maps up front, so they never rehash mid-file.
    pub fn new(layout: &Layout, expected_rows: usize) -> Self {
        let col = |f| layout.column_of(f);
        let map = |wanted: bool| {
            let capacity = if wanted { expected_rows } else { 0 };
            FingerprintMap::with_capacity_and_hasher(capacity, Default::default())
        };
        Self {
            columns: [
                col(Field::UserId),
                col(Field::Email),
                col(Field::ExternalId),
                col(Field::ReportsTo),
                col(Field::Transaction),
            ],
            user_lines: map(true),
            deleted: FingerprintMap::default(),
            emails: map(true),
            externals: map(col(Field::ExternalId).is_some()),
            edges: Vec::new(),
            arena: String::new(),
        }
    }

    fn keep(&mut self, text: &str) -> Range<usize> {
        let start = self.arena.len();
        self.arena.push_str(text);
        start..self.arena.len()
    }

    /// Registers a row's keys; duplicates of earlier rows are reported at once.
    pub fn add_row(&mut self, layout: &Layout, record: &csv::StringRecord, line: u64, out: &mut Vec<Diagnostic>) {
        let [c_user, c_email, c_ext, c_manager, c_transaction] = self.columns;
        let cell = |c: Option<usize>| unneutralise(c.and_then(|i| record.get(i)).unwrap_or(""));
        let user = UserId::check(cell(c_user)).ok();
        let mut duplicate = |map: &mut FingerprintMap<u64>, value: &str, field: Field| {
            let earlier = *map.entry(fingerprint(value)).or_insert(line);
            if earlier != line {
                out.push(Diagnostic::cell(
                    Severity::Error,
                    line,
                    layout.heading_of(field),
                    value,
                    &format!("is also on line {earlier}; each {} may appear once in a file", field.name()),
                ));
            }
        };
        let deletes = c_transaction.is_some() && parse_delete(cell(c_transaction)) == Ok(true);
        if let Some(user) = user {
            duplicate(&mut self.user_lines, user, Field::UserId);
            if deletes {
                self.deleted.entry(fingerprint(user)).or_insert(line);
            }
        }
        if let Ok(email) = Email::check(cell(c_email)) {
            duplicate(&mut self.emails, email, Field::Email);
        }
        if let Ok(ext) = ExternalId::check(cell(c_ext)) {
            duplicate(&mut self.externals, ext, Field::ExternalId);
        }
        // A row that deletes its user has no manager to check: the user goes.
        if let (Some(user), Ok(manager), false) = (user, UserId::check(cell(c_manager)), deletes) {
            let (user_fp, manager_fp) = (fingerprint(user), fingerprint(manager));
            if user_fp != manager_fp {
                let user_text = self.keep(user);
                let manager_text = self.keep(manager);
                self.edges.push(Edge { line, user: user_fp, manager: manager_fp, user_text, manager_text });
            }
        }
    }

    /// The keys the file names, for reading only the users a plan can touch.
    pub fn keys(&self) -> FileKeys<'_> {
        FileKeys { index: self, managers: self.edges.iter().map(|e| (e.manager, ())).collect() }
    }

    /// After the last row: `reportsTo` resolved against the file and, when given,
    /// the directory. Returns the findings by line.
    pub fn finish(&self, layout: &Layout, directory: Option<&DirectoryIndex>) -> HashMap<u64, Vec<Diagnostic>> {
        let mut findings: HashMap<u64, Vec<Diagnostic>> = HashMap::new();
        let heading = layout.heading_of(Field::ReportsTo);
        let text = |range: &Range<usize>| &self.arena[range.clone()];
        let in_directory = |fp_text: &str| directory.and_then(|d| d.by_user_id(&normalize_key(fp_text)));

        // The manager each user will have: the file's word where it gives one (the
        // first row of a userId: later ones are errors), else the directory's.
        let mut file_manager: FingerprintMap<&Edge> = FingerprintMap::default();
        for edge in &self.edges {
            if self.user_lines.get(&edge.user) == Some(&edge.line) {
                file_manager.insert(edge.user, edge);
            }
            if let Some(deleted_on) = self.deleted.get(&edge.manager) {
                findings.entry(edge.line).or_default().push(Diagnostic::cell(
                    Severity::Error,
                    edge.line,
                    heading,
                    text(&edge.manager_text),
                    &format!("is deleted by line {deleted_on}; give this user another manager"),
                ));
            }
            if directory.is_some()
                && !self.user_lines.contains_key(&edge.manager)
                && in_directory(text(&edge.manager_text)).is_none()
            {
                findings.entry(edge.line).or_default().push(Diagnostic::cell(
                    Severity::Error,
                    edge.line,
                    heading,
                    text(&edge.manager_text),
                    "is neither an existing user nor a user of this file",
                ));
            }
        }

        // A node of the reporting graph: its fingerprint and its userId as text,
        // borrowed from the arena or the directory (no allocation per step).
        let manager_of = |user: Fingerprint, user_text: &str| -> Option<(Fingerprint, &str)> {
            if let Some(edge) = file_manager.get(&user) {
                return Some((edge.manager, text(&edge.manager_text)));
            }
            let d = directory?;
            let manager = d.user(in_directory(user_text)?).reports_to.as_deref()?;
            Some((fingerprint(manager), manager))
        };

        // Each user has at most one manager, so a walk up the managers either ends,
        // reaches a node an earlier walk saw (whose way up is already known), or
        // comes back to its own path: a cycle. Every node is entered once.
        let mut state: FingerprintMap<u32> =
            FingerprintMap::with_capacity_and_hasher(self.edges.len() + 16, Default::default());
        let mut path: Vec<(Fingerprint, &str)> = Vec::new();
        for (walk, start) in self.edges.iter().enumerate() {
            let walk = walk as u32;
            path.clear();
            let mut current = Some((start.user, text(&start.user_text)));
            while let Some((user, user_text)) = current {
                match state.entry(user) {
                    std::collections::hash_map::Entry::Occupied(seen) => {
                        if *seen.get() == walk {
                            let at = path.iter().position(|(u, _)| *u == user).unwrap_or(0);
                            report_cycle(&mut findings, &path[at..], &file_manager, heading, &text);
                        }
                        break;
                    }
                    std::collections::hash_map::Entry::Vacant(slot) => {
                        slot.insert(walk);
                    }
                }
                current = manager_of(user, user_text);
                path.push((user, user_text));
            }
        }
        findings
    }
}

fn report_cycle<'a>(
    findings: &mut HashMap<u64, Vec<Diagnostic>>,
    cycle: &[(Fingerprint, &str)],
    file_manager: &FingerprintMap<&Edge>,
    heading: &str,
    text: &impl Fn(&Range<usize>) -> &'a str,
) {
    let describe = |(fp, name): &(Fingerprint, &str)| match file_manager.get(fp) {
        Some(edge) => format!("{name} (line {})", edge.line),
        None => format!("{name} (existing)"),
    };
    let mut chain: Vec<String> = cycle.iter().map(describe).collect();
    chain.push(cycle[0].1.to_owned());
    let chain = chain.join(" → ");
    for (fp, _) in cycle {
        if let Some(edge) = file_manager.get(fp) {
            findings.entry(edge.line).or_default().push(Diagnostic::cell(
                Severity::Error,
                edge.line,
                heading,
                text(&edge.manager_text),
                &format!("closes a reporting cycle: {chain}"),
            ));
        }
    }
}

/// What a file names, by normalised key (fingerprints: a rare collision keeps
/// one user too many in view, never one too few).
pub struct FileKeys<'i> {
    index: &'i FileIndex,
    managers: FingerprintMap<()>,
}

impl FileKeys<'_> {
    /// A userId that is a row's own or some row's `reportsTo`.
    pub fn names_user_id(&self, key: &str) -> bool {
        let fp = fingerprint(key);
        self.index.user_lines.contains_key(&fp) || self.managers.contains_key(&fp)
    }
    pub fn names_email(&self, key: &str) -> bool {
        self.index.emails.contains_key(&fingerprint(key))
    }
    pub fn names_external_id(&self, key: &str) -> bool {
        self.index.externals.contains_key(&fingerprint(key))
    }
}
