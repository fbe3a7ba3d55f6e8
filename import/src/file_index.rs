//! Rules between the rows of one file: the same userId, externalId or email twice
//! (the later line names the earlier one), and `reportsTo` that points at nobody
//! or closes a cycle (naming the lines of the cycle).
//!
//! Rows are registered one at a time; keys are kept as fingerprints and the few
//! texts a message may need go into an arena (one per part read), so a million rows cost a few tens
//! of megabytes and no allocation per row.
use crate::diagnostic::{Diagnostic, Severity};
use crate::directory::DirectoryIndex;
use crate::export::unneutralise;
use crate::field::Field;
use crate::fields::{Email, ExternalId, UserId};
use crate::fingerprint::{fingerprint, Fingerprint, FingerprintMap};
use crate::layout::Layout;
use crate::normalize_key;
use crate::row::{KeyColumns, RowKeys};
use crate::source::{Record, Source};
use crate::threads::side_by_side;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::{AtomicU32, Ordering};

/// A row's `reportsTo`. Its two userIds are kept as text (for messages and the
/// directory) side by side in its part's arena: 40 bytes an edge, a million of them in a
/// large file.
#[derive(Clone, Copy)]
struct Edge {
    line: u64,
    user: Fingerprint,
    manager: Fingerprint,
    text_at: usize,
    /// UserIds are ASCII and at most 64 characters.
    user_len: u8,
    manager_len: u8,
}

impl Edge {
    /// The user's userId, in `arena`: the arena of the edge's part.
    fn user_in<'a>(&self, arena: &'a str) -> &'a str {
        &arena[self.text_at..self.text_at + usize::from(self.user_len)]
    }
    /// The manager's userId, as the row wrote it, in the arena of the edge's part.
    fn manager_in<'a>(&self, arena: &'a str) -> &'a str {
        let start = self.text_at + usize::from(self.user_len);
        &arena[start..start + usize::from(self.manager_len)]
    }
}

/// The edges of a file, part by part as its parts were read (joined without a
/// copy: copying the later parts' edges into fresh memory was most of joining
/// them), each part with the arena its edges' texts are in. An edge is known
/// by its number in the whole file.
struct Edges {
    parts: Vec<EdgePart>,
    /// The number of each part's first edge.
    bases: Vec<u32>,
}

struct EdgePart {
    edges: Vec<Edge>,
    arena: String,
}

impl Edges {
    fn with_capacity(edges: usize) -> Self {
        Self { parts: vec![EdgePart { edges: Vec::with_capacity(edges), arena: String::new() }], bases: vec![0] }
    }

    fn len(&self) -> usize {
        let last = self.parts.len() - 1;
        self.bases[last] as usize + self.parts[last].edges.len()
    }

    /// Adds an edge from `user` to `manager` (to a file read in one part, or to a part).
    fn push(&mut self, line: u64, user: (&str, Fingerprint), manager: (&str, Fingerprint)) {
        debug_assert_eq!(self.parts.len(), 1, "edges are added before parts are joined");
        let part = &mut self.parts[0];
        let text_at = part.arena.len();
        part.arena.push_str(user.0);
        part.arena.push_str(manager.0);
        let len = |text: &str| u8::try_from(text.len()).expect("a userId has at most 64 characters");
        part.edges.push(Edge {
            line,
            user: user.1,
            manager: manager.1,
            text_at,
            user_len: len(user.0),
            manager_len: len(manager.0),
        });
    }

    /// Adds the edges of a later part of the file.
    fn append(&mut self, later: Self) {
        let base = u32::try_from(self.len()).expect("fewer than 4 billion rows");
        self.bases.extend(later.bases.iter().map(|b| b + base));
        self.parts.extend(later.parts);
    }

    /// Edge `e`, with the arena its texts are in.
    fn get(&self, e: u32) -> (&Edge, &str) {
        let p = self.bases.partition_point(|&base| base <= e) - 1;
        let part = &self.parts[p];
        (&part.edges[(e - self.bases[p]) as usize], &part.arena)
    }

    fn user_text(&self, e: u32) -> &str {
        let (edge, arena) = self.get(e);
        edge.user_in(arena)
    }

    /// Every edge in file order, with the arena its texts are in.
    fn iter(&self) -> impl Iterator<Item = (&Edge, &str)> + '_ {
        self.parts.iter().flat_map(|part| part.edges.iter().map(move |edge| (edge, part.arena.as_str())))
    }
}

/// A key with the line it is on and, for a userId or a manager on a row with a
/// `reportsTo`, that row's edge (else [`NONE`]). 16 bytes: lines fit in 32 bits, as a text
/// of 4 GiB or more is refused by [`Source::open`].
#[derive(Clone, Copy)]
struct Key {
    fp: Fingerprint,
    line: u32,
    edge: u32,
}

/// Keys of one kind with the line (and edge) of each, spread over partitions by some bits
/// of their fingerprint. Looking for repeats a partition at a time keeps the map
/// in cache; one map of a million keys missed the cache on nearly every row and
/// took a third of the time of validating a large file.
struct KeyLines {
    /// The partitions of each part of the file, in file order: parts read side
    /// by side are joined without copying their keys, and a partition's keys
    /// are those of its parts one after the other.
    by_part: Vec<Vec<Vec<Key>>>,
    /// For each part, what its keys' edges are shifted by: a part numbers the
    /// edges it saw from 0, and they follow the edges of the parts before it.
    edge_base: Vec<u32>,
}

impl KeyLines {
    /// About 4096 keys per partition. The partition is chosen by bits 40 and up:
    /// the maps use the low bits for the slot and the top ones as tags.
    /// `expected` is the file's rows, `here` those of the part of the file these
    /// keys come from (see [`FileIndex::part`]).
    fn new(expected: usize, here: usize) -> Self {
        let parts = (expected / 4096).next_power_of_two().clamp(1, 1024);
        // Nothing reserved for keys a part will not have (a column the file lacks).
        let per_part = if here == 0 { 0 } else { here / parts + here / parts / 8 + 16 };
        Self { by_part: vec![(0..parts).map(|_| Vec::with_capacity(per_part)).collect()], edge_base: vec![0] }
    }

    /// Adds the keys of a later part of the file, whose edges follow `edges_before`.
    fn append(&mut self, later: Self, edges_before: usize) {
        assert_eq!(self.partitions(), later.partitions(), "parts of one file are partitioned alike");
        let base = u32::try_from(edges_before).expect("fewer than 4 billion rows");
        self.edge_base.extend(later.edge_base.iter().map(|b| b + base));
        self.by_part.extend(later.by_part);
    }

    fn partitions(&self) -> usize {
        self.by_part[0].len()
    }

    fn partition_of(&self, fp: Fingerprint) -> usize {
        (fp >> 40) as usize & (self.partitions() - 1)
    }

    /// The keys of one partition, in file order, with their edges numbered in
    /// the whole file.
    fn partition(&self, p: usize) -> impl Iterator<Item = Key> + '_ {
        self.by_part.iter().zip(&self.edge_base).flat_map(move |(partitions, &base)| {
            partitions[p]
                .iter()
                .map(move |&key| Key { edge: if key.edge == NONE { NONE } else { key.edge + base }, ..key })
        })
    }

    fn push(&mut self, fp: Fingerprint, line: u64, edge: u32) {
        let p = self.partition_of(fp);
        debug_assert_eq!(self.by_part.len(), 1, "keys are added before parts are joined");
        let line = u32::try_from(line).expect("Source::open refuses a text with more lines than 32 bits count");
        self.by_part[0][p].push(Key { fp, line, edge });
    }

    /// Each line whose key an earlier line has, with that first line; natively,
    /// the two halves of the partitions side by side.
    fn repeats(&self) -> Vec<(u64, u64)> {
        in_halves(self.partitions(), |partitions| self.repeats_in(partitions, None)).concat()
    }

    /// The repeats among the partitions `partitions` (see [`KeyLines::repeats`]).
    /// With `links` (for the userIds: `managers` keyed by the manager's userId
    /// and `own`, `next` one slot per edge), also each edge's first-row edge of
    /// its user (`own`) and of its manager (`next`), from the same map: the
    /// first row of each userId, with its edge.
    fn repeats_in(&self, partitions: Range<usize>, links: Option<Links<'_>>) -> Vec<(u64, u64)> {
        // Sized for the largest partition once: grown from nothing, the map
        // was rebuilt a dozen times for each of a small file's few partitions.
        let largest = partitions.clone().map(|p| self.partition_len(p)).max().unwrap_or(0);
        let mut first: FingerprintMap<(u32, u32)> =
            FingerprintMap::with_capacity_and_hasher(largest, Default::default());
        let mut out = Vec::new();
        for p in partitions {
            first.clear();
            for key in self.partition(p) {
                let (earlier, first_edge) = *first.entry(key.fp).or_insert((key.line, key.edge));
                if earlier != key.line {
                    out.push((u64::from(key.line), u64::from(earlier)));
                }
                // `own` starts as each edge's own: only a later row of a userId
                // (its edge is not its user's first) changes it. Each edge's slots
                // are written by one half only: the one its user's (own) or its
                // manager's (next) partition is in.
                if let (Some(links), true) = (&links, key.edge != NONE && key.edge != first_edge) {
                    links.own[key.edge as usize].store(first_edge, Ordering::Relaxed);
                }
            }
            if let Some(links) = &links {
                for manager in links.managers.partition(p) {
                    let up = first.get(&manager.fp).map_or(NO_ROW, |&(_, edge)| edge);
                    links.next[manager.edge as usize].store(up, Ordering::Relaxed);
                }
            }
        }
        out
    }

    fn partition_len(&self, p: usize) -> usize {
        self.by_part.iter().map(|partitions| partitions[p].len()).sum()
    }

    fn set(&self) -> FingerprintMap<()> {
        self.by_part.iter().flatten().flatten().map(|key| (key.fp, ())).collect()
    }
}

/// Where the userIds' pass writes each edge's links (see [`KeyLines::repeats_in`]).
#[derive(Clone, Copy)]
struct Links<'a> {
    managers: &'a KeyLines,
    own: &'a [AtomicU32],
    next: &'a [AtomicU32],
}

pub struct FileIndex {
    columns: KeyColumns,
    users: KeyLines,
    /// Users the file deletes (`transaction` DELETE), by line: nobody may report to them.
    deleted: FingerprintMap<u64>,
    emails: KeyLines,
    externals: KeyLines,
    /// Each edge's manager, keyed by the manager's userId (the line is the edge's).
    managers: KeyLines,
    /// For every edge, the first-row edge of its user (`own`) and of its manager
    /// (`next`), [`NONE`] where there is none ([`NO_ROW`] in `next` where the
    /// manager has no row at all): found by [`FileIndex::repeats`],
    /// from the map of each userId's first row it builds anyway.
    own: Vec<u32>,
    next: Vec<u32>,
    /// [`FileIndex::repeats`] ran: [`FileIndex::finish`] needs the links.
    repeats_known: bool,
    edges: Edges,
}

impl FileIndex {
    /// The index of a part of a file that has `expected_rows`, about `part_rows`
    /// of them in this part (both size the partitions up front); parts are
    /// joined in file order with [`FileIndex::append`].
    pub fn part(layout: &Layout, expected_rows: usize, part_rows: usize) -> Self {
        let columns = KeyColumns::of(layout);
        let keys = |wanted: bool| if wanted { KeyLines::new(expected_rows, part_rows) } else { KeyLines::new(0, 0) };
        Self {
            columns,
            users: keys(true),
            deleted: FingerprintMap::default(),
            emails: keys(true),
            externals: keys(columns.external.is_some()),
            // Partitioned as the userIds are, even when empty: the userIds' pass
            // looks at the same partition of both.
            managers: KeyLines::new(expected_rows, if columns.manager.is_some() { part_rows } else { 0 }),
            own: Vec::new(),
            next: Vec::new(),
            repeats_known: false,
            // Most files that have the column give most rows a manager.
            edges: Edges::with_capacity(if columns.manager.is_some() { part_rows } else { 0 }),
        }
    }

    /// Adds the index of the part of the file that follows this one's.
    pub fn append(&mut self, later: Self) {
        assert!(!self.repeats_known && !later.repeats_known, "parts are joined before repeats are looked for");
        let edges_before = self.edges.len();
        self.users.append(later.users, edges_before);
        self.emails.append(later.emails, edges_before);
        self.externals.append(later.externals, edges_before);
        self.managers.append(later.managers, edges_before);
        for (fp, line) in later.deleted {
            self.deleted.entry(fp).or_insert(line);
        }
        self.edges.append(later.edges);
    }

    /// Registers a row's keys, read from its cells.
    pub fn add_row(&mut self, record: &Record, line: u64) {
        let keys = self.columns.keys(record);
        self.add_keys(&keys, line);
    }

    /// Registers a row's keys (the valid ones). Repeats are found after the last
    /// row, by [`FileIndex::repeats`].
    pub fn add_keys(&mut self, keys: &RowKeys<'_>, line: u64) {
        let RowKeys { user, email, external, manager, deletes } = *keys;
        if let Some(email) = email {
            self.emails.push(fingerprint(email), line, NONE);
        }
        if let Some(ext) = external {
            self.externals.push(fingerprint(ext), line, NONE);
        }
        let Some(user) = user else { return };
        let user_fp = fingerprint(user);
        if deletes {
            self.deleted.entry(user_fp).or_insert(line);
        }
        // A row that deletes its user has no manager to check: the user goes.
        let manager = manager.filter(|_| !deletes).map(|m| (m, fingerprint(m))).filter(|&(_, fp)| fp != user_fp);
        let Some((manager, manager_fp)) = manager else {
            self.users.push(user_fp, line, NONE);
            return;
        };
        let edge = u32::try_from(self.edges.len()).expect("fewer than 4 billion rows");
        self.users.push(user_fp, line, edge);
        self.managers.push(manager_fp, line, edge);
        self.edges.push(line, (user, user_fp), (manager, manager_fp));
    }

    /// After the last row: each userId, email and externalId that an earlier line
    /// has, as diagnostics by line (userId, email, externalId in that order). The
    /// values are read again from `source`, only when there are repeats. Also
    /// links each `reportsTo` edge to its user's and its manager's first row
    /// (`own`, `next`), for [`FileIndex::finish`].
    pub fn repeats(&mut self, layout: &Layout, source: &Source<'_>) -> HashMap<u64, Vec<Diagnostic>> {
        // Many partitions are looked at in two halves side by side (`in_halves`);
        // a few in one go, and then the userIds beside the other keys instead.
        let n = self.edges.len();
        assert!(n < NO_ROW as usize, "fewer than 4 billion rows");
        let (own, next): (Vec<AtomicU32>, Vec<AtomicU32>) =
            ((0..n as u32).map(AtomicU32::new).collect(), (0..n).map(|_| AtomicU32::new(NONE)).collect());
        let links = Links { managers: &self.managers, own: &own, next: &next };
        let users =
            || in_halves(self.users.partitions(), |partitions| self.users.repeats_in(partitions, Some(links))).concat();
        // (`side_by_side` runs one after the other in WebAssembly.)
        let (users, emails, externals) = if (2..HALVES_FROM).contains(&self.users.partitions()) {
            let (users, (emails, externals)) =
                side_by_side(users, || (self.emails.repeats(), self.externals.repeats()));
            (users, emails, externals)
        } else {
            (users(), self.emails.repeats(), self.externals.repeats())
        };
        let plain = |links: Vec<AtomicU32>| links.into_iter().map(AtomicU32::into_inner).collect();
        (self.own, self.next) = (plain(own), plain(next));
        // Only the links needed the managers' keys (the edges hold them too).
        self.managers = KeyLines::new(0, 0);
        let kinds = [(Field::UserId, users), (Field::Email, emails), (Field::ExternalId, externals)];
        self.repeats_known = true;
        let mut wanted: HashMap<u64, Vec<(Field, u64)>> = HashMap::new();
        for (field, repeats) in &kinds {
            for &(line, earlier) in repeats {
                wanted.entry(line).or_default().push((*field, earlier));
            }
        }
        let mut found: HashMap<u64, Vec<Diagnostic>> = HashMap::new();
        if wanted.is_empty() {
            return found;
        }
        let mut rows = source.data_rows();
        let mut record = Record::new();
        while let Some(line) = rows.next_filled(&mut record) {
            let Some(repeats) = wanted.remove(&line) else { continue };
            for (field, earlier) in repeats {
                let raw = unneutralise(layout.value_of(field, &record));
                let value = match field {
                    Field::UserId => UserId::check(raw),
                    Field::Email => Email::check(raw),
                    _ => ExternalId::check(raw),
                };
                found.entry(line).or_default().push(Diagnostic::cell(
                    Severity::Error,
                    line,
                    layout.heading_in(field, &record),
                    value.unwrap_or(raw.trim()),
                    &format!("is also on line {earlier}; each {} may appear once in a file", field.name()),
                ));
            }
            if wanted.is_empty() {
                break;
            }
        }
        found
    }

    /// The keys the file names, for reading only the users a plan can touch.
    pub fn keys(&self) -> FileKeys {
        FileKeys {
            user_ids: self.users.set().into_iter().chain(self.edges.iter().map(|(e, _)| (e.manager, ()))).collect(),
            emails: self.emails.set(),
            external_ids: self.externals.set(),
        }
    }

    /// After the last row and [`FileIndex::repeats`]: `reportsTo` resolved against
    /// the file and, when given, the directory. Returns the findings by line.
    pub fn finish(&self, layout: &Layout, directory: Option<&DirectoryIndex>) -> HashMap<u64, Vec<Diagnostic>> {
        assert!(self.repeats_known, "FileIndex::repeats must run before finish");
        let mut findings: HashMap<u64, Vec<Diagnostic>> = HashMap::new();
        let heading = layout.heading_of(Field::ReportsTo);
        self.managers_not_there(heading, directory, &mut findings);
        self.manager_cycles(heading, directory, &mut findings);
        findings
    }

    /// Managers deleted by the file, or neither in it nor (given one) in the directory.
    fn managers_not_there(
        &self,
        heading: &str,
        directory: Option<&DirectoryIndex>,
        findings: &mut HashMap<u64, Vec<Diagnostic>>,
    ) {
        let in_directory = |fp_text: &str| directory.and_then(|d| d.by_user_id(&normalize_key(fp_text)));
        let next = &self.next;
        for (i, (edge, arena)) in self.edges.iter().enumerate() {
            // Read only for a manager outside the file or a finding: the texts are cold.
            let manager_text = || edge.manager_in(arena);
            if let Some(deleted_on) = self.deleted.get(&edge.manager) {
                findings.entry(edge.line).or_default().push(Diagnostic::cell(
                    Severity::Error,
                    edge.line,
                    heading,
                    manager_text(),
                    &format!("is deleted by line {deleted_on}; give this user another manager"),
                ));
            }
            if directory.is_some() && next[i] == NO_ROW && in_directory(manager_text()).is_none() {
                findings.entry(edge.line).or_default().push(Diagnostic::cell(
                    Severity::Error,
                    edge.line,
                    heading,
                    manager_text(),
                    "is neither an existing user nor a user of this file",
                ));
            }
        }
    }

    /// Users who would, up their line of managers, manage themselves.
    fn manager_cycles(
        &self,
        heading: &str,
        directory: Option<&DirectoryIndex>,
        findings: &mut HashMap<u64, Vec<Diagnostic>>,
    ) {
        let edges = &self.edges;
        let in_directory = |fp_text: &str| directory.and_then(|d| d.by_user_id(&normalize_key(fp_text)));
        let (own, next) = (&self.own, &self.next);

        // The manager each user will have: the file's word where it gives one (the
        // first row of a userId: later ones are errors), else the directory's. A
        // directory's manager may be a user of the file again: only then is a map
        // from every such user to its edge needed.
        let first_edges: FingerprintMap<u32> = match directory {
            Some(_) => own.iter().filter(|&&e| e != NONE).map(|&e| (edges.get(e).0.user, e)).collect(),
            None => FingerprintMap::default(),
        };
        let node_of = |fp: Fingerprint| first_edges.get(&fp).map_or(Node::Other(fp), |&e| Node::Edge(e));
        // The step up from a node, with the manager's userId as the text that
        // names it (borrowed from the arena or the directory: no allocation).
        let manager_of = |node: Node, user_text: &str| -> Option<(Node, &str)> {
            match node {
                Node::Edge(e) => {
                    let (edge, arena) = edges.get(e);
                    let up = match next[e as usize] {
                        NONE | NO_ROW => Node::Other(edge.manager),
                        m => Node::Edge(m),
                    };
                    Some((up, edge.manager_in(arena)))
                }
                Node::Other(_) => {
                    let manager = directory?.user(in_directory(user_text)?).reports_to.as_deref()?;
                    Some((node_of(fingerprint(manager)), manager))
                }
            }
        };

        // Each user has at most one manager, so a walk up the managers either ends,
        // reaches a node an earlier walk saw (whose way up is already known), or
        // comes back to its own path: a cycle. Every node is entered once.
        //
        // Walks start only where a cycle must pass. Going round a cycle of the
        // file's users, the lines cannot only go down: one of its edges points
        // at a manager whose first row comes later (or at the same row). A cycle
        // through users of the directory leaves the file at an edge whose manager
        // has no row. So a file whose managers all come before their reports (a
        // usual export order) is walked not at all.
        let may_close_cycle = |e: usize| {
            own[e] as usize == e
                && match next[e] {
                    NONE | NO_ROW => directory.is_some(),
                    up => up as usize >= e,
                }
        };
        let mut edge_state = vec![NONE; edges.len()];
        let mut other_state: FingerprintMap<u32> = FingerprintMap::default();
        let mut path: Vec<(Node, &str)> = Vec::new();
        for (walk, (start, arena)) in edges.iter().enumerate() {
            if !may_close_cycle(walk) {
                continue;
            }
            let walk = walk as u32;
            path.clear();
            let first = match own[walk as usize] {
                NONE => Node::Other(start.user),
                e => Node::Edge(e),
            };
            let mut current = Some((first, start.user_in(arena)));
            while let Some((node, user_text)) = current {
                let seen = match node {
                    Node::Edge(e) => &mut edge_state[e as usize],
                    Node::Other(fp) => other_state.entry(fp).or_insert(NONE),
                };
                if *seen == walk {
                    let at = path.iter().position(|(n, _)| *n == node).unwrap_or(0);
                    report_cycle(findings, &path[at..], edges, heading);
                    break;
                }
                if *seen != NONE {
                    break;
                }
                *seen = walk;
                current = manager_of(node, user_text);
                path.push((node, user_text));
            }
        }
    }
}

/// `work` over the partitions `0..all`: natively in two halves side by side,
/// elsewhere (or with a few partitions, whose work takes less than a thread's
/// start) in one go. The results in partition order.
fn in_halves<T: Send>(all: usize, work: impl Fn(Range<usize>) -> T + Sync) -> Vec<T> {
    if cfg!(target_arch = "wasm32") || all < HALVES_FROM {
        return vec![work(0..all)];
    }
    let half = all / 2;
    let (second, first) = side_by_side(|| work(half..all), || work(0..half));
    vec![first, second]
}

/// The fewest partitions [`in_halves`] splits.
const HALVES_FROM: usize = 8;

/// "No edge" in the per-edge tables (and "not yet seen" in walks).
const NONE: u32 = u32::MAX;
/// In `next`: the manager has no row in the file at all (where [`NONE`] says
/// its first row has no `reportsTo`).
const NO_ROW: u32 = u32::MAX - 1;

/// A user in the reporting graph: one whose first row has a `reportsTo` (by that
/// edge), or any other (a user of the file without one, or of the directory only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    Edge(u32),
    Other(Fingerprint),
}

fn report_cycle<'a>(
    findings: &mut HashMap<u64, Vec<Diagnostic>>,
    cycle: &[(Node, &'a str)],
    edges: &'a Edges,
    heading: &str,
) {
    // A user of the file is named as its own row writes its userId; another as
    // the row or the directory that named it as a manager.
    let name = |(node, named): &(Node, &'a str)| match node {
        Node::Edge(e) => edges.user_text(*e),
        Node::Other(_) => named,
    };
    let describe = |step: &(Node, &'a str)| match step.0 {
        Node::Edge(e) => format!("{} (line {})", name(step), edges.get(e).0.line),
        Node::Other(_) => format!("{} (existing)", name(step)),
    };
    // The same words whichever user a walk met first: from the earliest line.
    let first = cycle
        .iter()
        .enumerate()
        .filter_map(|(at, (node, _))| match node {
            Node::Edge(e) => Some((edges.get(*e).0.line, at)),
            Node::Other(_) => None,
        })
        .min()
        .map_or(0, |(_, at)| at);
    let cycle: Vec<(Node, &'a str)> = cycle[first..].iter().chain(&cycle[..first]).copied().collect();
    let mut chain: Vec<String> = cycle.iter().map(describe).collect();
    chain.push(name(&cycle[0]).to_owned());
    let chain = chain.join(" → ");
    for (node, _) in &cycle {
        if let Node::Edge(e) = node {
            let (edge, arena) = edges.get(*e);
            findings.entry(edge.line).or_default().push(Diagnostic::cell(
                Severity::Error,
                edge.line,
                heading,
                edge.manager_in(arena),
                &format!("closes a reporting cycle: {chain}"),
            ));
        }
    }
}

/// What a file names, by normalised key (fingerprints: a rare collision keeps
/// one user too many in view, never one too few).
pub struct FileKeys {
    user_ids: FingerprintMap<()>,
    emails: FingerprintMap<()>,
    external_ids: FingerprintMap<()>,
}

impl FileKeys {
    /// A userId that is a row's own or some row's `reportsTo`.
    pub fn names_user_id(&self, key: &str) -> bool {
        self.user_ids.contains_key(&fingerprint(key))
    }
    pub fn names_email(&self, key: &str) -> bool {
        self.emails.contains_key(&fingerprint(key))
    }
    pub fn names_external_id(&self, key: &str) -> bool {
        self.external_ids.contains_key(&fingerprint(key))
    }
}
