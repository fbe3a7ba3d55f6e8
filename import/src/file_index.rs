//! Rules between the rows of one file: the same userId, externalId or email twice
//! (naming the earlier line), and `reportsTo` that points at nobody or closes a
//! cycle (naming the lines of the cycle). A first streaming pass gathers the keys;
//! the findings are attached to their lines when the rows are read again.
use crate::diagnostic::{Diagnostic, Severity};
use crate::directory::DirectoryIndex;
use crate::field::Field;
use crate::fields::{Email, ExternalId, UserId};
use crate::layout::Layout;
use crate::normalize_key;
use crate::source::{is_blank, Source};
use std::collections::HashMap;

#[derive(Default)]
pub struct FileIndex {
    findings: HashMap<u64, Vec<Diagnostic>>,
    /// userId (normalised) → the first line that names it.
    pub user_lines: HashMap<String, u64>,
    pub data_rows: u64,
}

impl FileIndex {
    /// The findings for one line, handed over once.
    pub fn take(&mut self, line: u64) -> Vec<Diagnostic> {
        self.findings.remove(&line).unwrap_or_default()
    }

    fn add(&mut self, line: u64, diagnostic: Diagnostic) {
        self.findings.entry(line).or_default().push(diagnostic);
    }
}

struct Edge {
    line: u64,
    user: String,
    manager: String,
    manager_raw: String,
}

pub fn index_file(
    source: &Source,
    layout: &Layout,
    directory: Option<&DirectoryIndex>,
) -> FileIndex {
    let mut index = FileIndex::default();
    let mut emails: HashMap<String, u64> = HashMap::new();
    let mut externals: HashMap<String, u64> = HashMap::new();
    let mut edges = Vec::new();
    let col = |f: Field| layout.column_of(f);
    let (c_user, c_email, c_ext, c_manager) = (
        col(Field::UserId),
        col(Field::Email),
        col(Field::ExternalId),
        col(Field::ReportsTo),
    );

    let mut rows = source.data_rows();
    let mut record = csv::StringRecord::new();
    while let Some(line) = rows.next_into(&mut record) {
        if is_blank(&record) {
            continue;
        }
        index.data_rows += 1;
        let cell = |c: Option<usize>| {
            crate::export::unneutralise(c.and_then(|i| record.get(i)).unwrap_or(""))
        };
        let user = UserId::check(cell(c_user)).ok().map(normalize_key);
        let duplicate = |map: &mut HashMap<String, u64>,
                         key: String,
                         field: Field,
                         raw: &str,
                         index: &mut FileIndex| {
            if let Some(&earlier) = map.get(&key) {
                index.add(
                    line,
                    Diagnostic::cell(
                        Severity::Error,
                        line,
                        layout.heading_of(field),
                        raw.trim(),
                        &format!(
                            "is also on line {earlier}; each {} may appear once in a file",
                            field.name()
                        ),
                    ),
                );
            } else {
                map.insert(key, line);
            }
        };
        if let Some(key) = &user {
            let mut users = std::mem::take(&mut index.user_lines);
            duplicate(
                &mut users,
                key.clone(),
                Field::UserId,
                cell(c_user),
                &mut index,
            );
            index.user_lines = users;
        }
        if let Ok(email) = Email::check(cell(c_email)) {
            duplicate(
                &mut emails,
                normalize_key(email),
                Field::Email,
                email,
                &mut index,
            );
        }
        if let Ok(ext) = ExternalId::check(cell(c_ext)) {
            duplicate(
                &mut externals,
                normalize_key(ext),
                Field::ExternalId,
                ext,
                &mut index,
            );
        }
        if let (Some(user), Ok(manager)) = (user, UserId::check(cell(c_manager))) {
            let manager_norm = normalize_key(manager);
            if manager_norm != user {
                edges.push(Edge {
                    line,
                    user,
                    manager: manager_norm,
                    manager_raw: manager.to_owned(),
                });
            }
        }
    }
    resolve_managers(&mut index, &edges, layout, directory);
    index
}

fn resolve_managers(
    index: &mut FileIndex,
    edges: &[Edge],
    layout: &Layout,
    directory: Option<&DirectoryIndex>,
) {
    let heading = layout.heading_of(Field::ReportsTo).to_owned();
    // The manager each user will have: the file's word where it gives one, else
    // the directory's. Only the first row of a userId counts (later ones are errors).
    let mut file_manager: HashMap<&str, &Edge> = HashMap::with_capacity(edges.len());
    for edge in edges {
        if index.user_lines.get(&edge.user) == Some(&edge.line) {
            file_manager.insert(&edge.user, edge);
        }
    }
    for edge in edges {
        let known = index.user_lines.contains_key(&edge.manager)
            || directory.is_some_and(|d| d.by_user_id(&edge.manager).is_some());
        if !known && directory.is_some() {
            index.add(
                edge.line,
                Diagnostic::cell(
                    Severity::Error,
                    edge.line,
                    &heading,
                    &edge.manager_raw,
                    "is neither an existing user nor a user of this file",
                ),
            );
        }
    }
    let manager_of = |user: &str| -> Option<String> {
        if let Some(edge) = file_manager.get(user) {
            return Some(edge.manager.clone());
        }
        let d = directory?;
        // A user the file names without a reportsTo keeps the directory's manager.
        d.by_user_id(user)
            .and_then(|i| d.user(i).reports_to.as_deref())
            .map(normalize_key)
    };

    // Each user has at most one manager, so following managers from any start
    // either ends or enters a cycle; `state` makes the whole walk linear.
    let mut state: HashMap<String, u32> = HashMap::new();
    const DONE: u32 = u32::MAX;
    for (walk, start) in edges.iter().enumerate() {
        let walk = walk as u32;
        let mut path: Vec<String> = Vec::new();
        let mut current = Some(start.user.clone());
        while let Some(user) = current {
            match state.get(&user) {
                Some(&DONE) => break,
                Some(&w) if w == walk => {
                    let at = path.iter().position(|u| *u == user).unwrap_or(0);
                    report_cycle(index, &path[at..], &file_manager, &heading);
                    break;
                }
                _ => {}
            }
            state.insert(user.clone(), walk);
            current = manager_of(&user);
            path.push(user);
        }
        for user in path {
            state.insert(user, DONE);
        }
    }
}

fn report_cycle(
    index: &mut FileIndex,
    cycle: &[String],
    file_manager: &HashMap<&str, &Edge>,
    heading: &str,
) {
    let describe = |user: &str| match file_manager.get(user) {
        Some(edge) => format!("{user} (line {})", edge.line),
        None => format!("{user} (existing)"),
    };
    let mut chain: Vec<String> = cycle.iter().map(|u| describe(u)).collect();
    chain.push(cycle[0].clone());
    let chain = chain.join(" → ");
    for user in cycle {
        if let Some(edge) = file_manager.get(user.as_str()) {
            index.add(
                edge.line,
                Diagnostic::cell(
                    Severity::Error,
                    edge.line,
                    heading,
                    &edge.manager_raw,
                    &format!("closes a reporting cycle: {chain}"),
                ),
            );
        }
    }
}
