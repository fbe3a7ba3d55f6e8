//! `muster validate FILE [--json] [--tenant SLUG]`: the engine's verdict on a file,
//! for people (a list of problems) and scripts (the stable JSON of SPEC 7.1,
//! documented in docs/validate-json.md).
use super::{no_tenant, EXIT_INVALID, EXIT_OK, EXIT_UNAVAILABLE};
use crate::config::Config;
use muster_import::plan::Change;
use muster_import::{plan, Counts, Diagnostic, Directory, Mode, Plan, PlanOptions, RowStatus, SyncAction};
use serde::Serialize;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// The users file (CSV).
    pub file: PathBuf,
    /// Print the whole plan as JSON (docs/validate-json.md).
    #[arg(long)]
    pub json: bool,
    /// Plan against this tenant as it is in the database. Without it, against an
    /// empty tenant `default` with unlimited licences.
    #[arg(long)]
    pub tenant: Option<String>,
    #[arg(long, value_enum, default_value = "add-and-update")]
    pub mode: ModeArg,
    /// Sync mode: what happens to active users the file does not name.
    #[arg(long, value_enum, default_value = "report")]
    pub sync_action: SyncActionArg,
    /// Sync mode: a sync that retires or deletes more than this share of the
    /// active users needs a second confirmation (`import --confirm`).
    #[arg(long, value_name = "PERCENT", default_value_t = 20, value_parser = clap::value_parser!(u32).range(0..=100))]
    pub sync_threshold: u32,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ModeArg {
    AddAndUpdate,
    AddNewOnly,
    UpdateOnly,
    Sync,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SyncActionArg {
    Report,
    MarkLeaver,
    Delete,
}

impl ValidateArgs {
    pub fn options(&self) -> PlanOptions {
        PlanOptions {
            mode: match self.mode {
                ModeArg::AddAndUpdate => Mode::AddAndUpdate,
                ModeArg::AddNewOnly => Mode::AddNewOnly,
                ModeArg::UpdateOnly => Mode::UpdateOnly,
                ModeArg::Sync => Mode::Sync,
            },
            sync_action: match self.sync_action {
                SyncActionArg::Report => SyncAction::Report,
                SyncActionArg::MarkLeaver => SyncAction::MarkLeaver,
                SyncActionArg::Delete => SyncAction::Delete,
            },
            sync_threshold_percent: self.sync_threshold,
            ..PlanOptions::default()
        }
    }
}

/// The JSON contract: exactly these fields, in this shape.
#[derive(Serialize)]
struct ContractRow<'a> {
    line: Option<u64>,
    user_id: Option<&'a str>,
    status: RowStatus,
    first_name: Option<&'a str>,
    last_name: Option<&'a str>,
    diagnostics: &'a [Diagnostic],
    changes: &'a [Change],
}

#[derive(Serialize)]
struct Contract<'a> {
    format: muster_import::Format,
    encoding: muster_import::Encoding,
    delimiter: muster_import::Delimiter,
    file_diagnostics: &'a [Diagnostic],
    rows: Vec<ContractRow<'a>>,
    counts: Counts,
    roles_added: &'a [String],
    groups_added: &'a [String],
}

pub fn contract_json(plan: &Plan) -> String {
    let s = &plan.summary;
    let contract = Contract {
        format: s.format,
        encoding: s.encoding,
        delimiter: s.delimiter,
        file_diagnostics: &s.file_diagnostics,
        rows: plan
            .rows
            .iter()
            .map(|r| ContractRow {
                line: r.line,
                user_id: r.user_id.as_deref(),
                status: r.status,
                first_name: r.first_name.as_deref(),
                last_name: r.last_name.as_deref(),
                diagnostics: &r.diagnostics,
                changes: &r.changes,
            })
            .collect(),
        counts: s.counts,
        roles_added: &s.roles_added,
        groups_added: &s.groups_added,
    };
    serde_json::to_string_pretty(&contract).expect("plain data serialises")
}

pub fn human_report(plan: &Plan) -> String {
    let s = &plan.summary;
    let mut out = format!(
        "Format {} ({}), encoding {}, delimiter {:?}\n",
        s.format.as_str(),
        s.format.label(),
        s.encoding.name(),
        s.delimiter.as_str()
    );
    for d in &s.file_diagnostics {
        out.push_str(&format!("{}: {}\n", label(d), d.message));
    }
    for row in &plan.rows {
        for d in &row.diagnostics {
            out.push_str(&format!("{}: {}\n", label(d), d.message));
        }
    }
    let counts: Vec<String> = RowStatus::ALL
        .iter()
        .filter(|st| s.counts.get(**st) > 0)
        .map(|st| format!("{} {}", s.counts.get(*st), st.as_str()))
        .collect();
    out.push_str(&format!("Rows: {}\n", if counts.is_empty() { "none".into() } else { counts.join(", ") }));
    if !s.roles_added.is_empty() {
        out.push_str(&format!("Roles added: {}\n", s.roles_added.join(", ")));
    }
    if !s.groups_added.is_empty() {
        out.push_str(&format!("Groups added: {}\n", s.groups_added.join(", ")));
    }
    out
}

fn label(d: &Diagnostic) -> &'static str {
    if d.is_error() {
        "error"
    } else {
        "warning"
    }
}

pub async fn run(args: &ValidateArgs, config: &Config) -> i32 {
    let bytes = match std::fs::read(&args.file) {
        Ok(bytes) => bytes,
        Err(err) => {
            eprintln!("cannot read {}: {err}", args.file.display());
            return EXIT_UNAVAILABLE;
        }
    };
    let directory = match &args.tenant {
        None => Directory::empty("default"),
        Some(slug) => match load_directory(config, slug).await {
            Ok(Some(directory)) => directory,
            Ok(None) => return no_tenant(slug),
            Err(err) => {
                eprintln!("cannot read the tenant from the database: {err}");
                return EXIT_UNAVAILABLE;
            }
        },
    };
    let plan = plan(&bytes, &directory, &args.options());
    if args.json {
        println!("{}", contract_json(&plan));
    } else {
        print!("{}", human_report(&plan));
    }
    let has_errors = !plan.summary.file_ok() || plan.summary.counts.error > 0;
    if has_errors {
        EXIT_INVALID
    } else {
        EXIT_OK
    }
}

async fn load_directory(config: &Config, slug: &str) -> Result<Option<Directory>, muster_store::DbErr> {
    let db = muster_store::db::connect_and_migrate(&config.database_url()).await?;
    let Some(tenant) = muster_store::directory::find_tenant(&db, slug).await? else {
        return Ok(None);
    };
    muster_store::directory::load(&db, &tenant).await.map(Some)
}
