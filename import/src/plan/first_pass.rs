//! The first pass over a file: its keys read once (a large file in parts side by side), then the plan of every row against the users those keys name.
use super::*;
use crate::diagnostic::{Diagnostic, Severity};
use crate::directory::DirectoryIndex;
use crate::file_index::{FileIndex, FileKeys};
use crate::parts;
use crate::row::parse_row;
use crate::source::{Record, Source};
use std::collections::{HashMap, HashSet};

/// A file read once for the rules between its rows, before any directory is
/// needed: its keys say which users of a large tenant the plan can touch, so a
/// server reads those (see [`FirstPass::keys`]) instead of the whole tenant.
pub struct FirstPass<'b> {
    source: Source<'b>,
    index: Option<FileIndex>,
    findings: HashMap<u64, Vec<Diagnostic>>,
}

impl<'b> FirstPass<'b> {
    pub fn read(bytes: &'b [u8], options: &PlanOptions) -> Self {
        let source = Source::open(bytes, &options.mapping, options.delimiter);
        let mut findings = HashMap::new();
        let index = source.layout.as_ref().map(|layout| {
            let file_rows = source.expected_rows();
            let mut parts = parts::each_row(
                &source,
                parts::count(&source),
                |rows| FileIndex::part(layout, file_rows, rows),
                |index, record, line| index.add_row(record, line),
            )
            .into_iter();
            let mut index = parts.next().expect("one part at least");
            parts.for_each(|later| index.append(later));
            findings = index.repeats(layout, &source);
            index
        });
        Self { source, index, findings }
    }

    /// The keys the file names (userIds, its managers' userIds, emails and
    /// externalIds). `None` when the file has no usable headings.
    pub fn keys(&self) -> Option<FileKeys> {
        self.index.as_ref().map(FileIndex::keys)
    }

    /// The second pass: every row planned against `dir`, in file order.
    pub fn plan(self, dir: &DirectoryIndex<'_>, options: &PlanOptions, mut sink: impl FnMut(RowPlan)) -> PlanSummary {
        let directory = dir.directory;
        let Self { source, index, mut findings } = self;
        let mut summary = PlanSummary {
            format: source.format,
            encoding: source.encoding,
            delimiter: source.delimiter,
            file_diagnostics: source.diagnostics.clone(),
            counts: Counts::default(),
            roles_added: Vec::new(),
            groups_added: Vec::new(),
            needs_confirmation: false,
        };
        let (Some(layout), Some(index)) = (&source.layout, index) else {
            return summary;
        };
        let tenant = Some(directory.tenant_slug.as_str());
        for (line, mut late) in index.finish(layout, Some(dir)) {
            findings.entry(line).or_default().append(&mut late);
        }
        drop(index);

        let mut planner = Planner {
            dir,
            options,
            layout,
            named: HashMap::new(),
            roles_seen: HashSet::new(),
            groups_seen: HashSet::new(),
        };

        let mut rows = source.data_rows();
        let mut record = Record::new();
        while let Some(line) = rows.next_filled(&mut record) {
            let mut diagnostics = Vec::new();
            let row = parse_row(layout, &record, line, tenant, &mut diagnostics);
            diagnostics.extend(findings.remove(&line).unwrap_or_default());
            let plan = planner.plan_row(row, diagnostics, &mut summary);
            summary.counts.add(plan.status);
            sink(plan);
        }

        if options.mode == Mode::Sync {
            planner.old_users(&mut summary, &mut sink);
        }
        let needed = summary.counts.new + summary.counts.joiner;
        if let (Some(remaining), Some(limit)) = (dir.licences_remaining(), directory.licence_limit) {
            if needed > remaining {
                summary.file_diagnostics.push(Diagnostic::file(
                    Severity::Error,
                    format!(
                        "This file needs {needed} licences for new users and joiners, but only {remaining} of the tenant's {limit} remain"
                    ),
                ));
            }
        }
        summary
    }
}
