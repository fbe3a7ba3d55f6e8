//! Files made from an upload: its results file, the file as sent, and the retry of its failed rows.
use super::*;
use crate::entity::{tenant, upload, upload_row};
use muster_import::RowStatus;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder};

pub(super) fn delimiter_of(upload: &upload::Model) -> Option<muster_import::Delimiter> {
    muster_import::Delimiter::ALL.into_iter().find(|d| d.as_str() == upload.delimiter)
}

/// Every line's result and outcome. A million lines share a handful of texts
/// ("Added; invitation sent"), so each text is kept once and a line costs 16
/// bytes; the rows are read a page of row positions at a time.
pub(super) struct LineResults {
    /// (line, result, outcome), texts by their index in `texts`; sorted by line.
    lines: Vec<(u64, u32, u32)>,
    texts: Vec<String>,
}

pub(super) const NO_TEXT: u32 = u32::MAX;

impl LineResults {
    async fn read<C: ConnectionTrait>(db: &C, upload: &upload::Model) -> Result<Self, DbErr> {
        use sea_orm::QuerySelect;
        const PAGE: i32 = 10_000;
        let last = last_row_index(db, upload.tenant_id, upload.id).await?;
        let mut interned: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
        let mut out = Self { lines: Vec::new(), texts: Vec::new() };
        let mut intern = |text: Option<String>, texts: &mut Vec<String>| match text {
            None => NO_TEXT,
            Some(text) => *interned.entry(text).or_insert_with_key(|text| {
                texts.push(text.clone());
                (texts.len() - 1) as u32
            }),
        };
        let mut after = -1;
        while after < last.unwrap_or(-1) {
            let page: Vec<(i32, Option<String>, Option<String>)> = upload_row::Entity::find()
                .select_only()
                .columns([upload_row::Column::Line, upload_row::Column::Result, upload_row::Column::Outcome])
                .filter(upload_row::Column::TenantId.eq(upload.tenant_id))
                .filter(upload_row::Column::UploadId.eq(upload.id))
                .filter(upload_row::Column::RowIndex.gt(after))
                .filter(upload_row::Column::RowIndex.lte(after.saturating_add(PAGE)))
                .filter(upload_row::Column::Line.gt(0))
                .into_tuple()
                .all(db)
                .await?;
            for (line, result, outcome) in page {
                let result = intern(result, &mut out.texts);
                let outcome = intern(outcome, &mut out.texts);
                out.lines.push((line as u64, result, outcome));
            }
            after = after.saturating_add(PAGE);
        }
        out.lines.sort_unstable_by_key(|(line, _, _)| *line);
        Ok(out)
    }

    fn text(&self, index: u32) -> Option<&str> {
        (index != NO_TEXT).then(|| self.texts[index as usize].as_str())
    }

    /// The result and the outcome of a line.
    fn get(&self, line: u64) -> (Option<&str>, Option<&str>) {
        match self.lines.binary_search_by_key(&line, |(line, _, _)| *line) {
            Ok(at) => (self.text(self.lines[at].1), self.text(self.lines[at].2)),
            Err(_) => (None, None),
        }
    }
}

/// The uploaded file, as it was, with a `result` column saying what happened to
/// each line ("Not loaded" for a line the load has not reached, or skipped),
/// whole in memory: for tests; the product writes it with [`ResultsFile::write_to`].
#[cfg(feature = "testing")]
pub async fn results_csv<C: ConnectionTrait>(db: &C, tenant_id: i64, upload_id: i64) -> Result<Option<Vec<u8>>, DbErr> {
    let Some(upload) = find(db, tenant_id, upload_id).await? else { return Ok(None) };
    let file = ResultsFile::read(db, &upload).await?;
    let out = muster_import::results::buffer_for(&file.sent.content);
    Ok(Some(file.write_to(out).expect("writing to memory cannot fail")))
}

/// An upload's file as it was sent, with what writing it out again needs.
/// Its `write_to` (and [`ResultsFile::write_to`]) write a part at a time, so
/// that a download or a file on disk never holds what they write whole (a
/// million lines' results file is 100 MB); both are CPU work, for a thread
/// where blocking is allowed.
pub struct SentFile {
    content: Vec<u8>,
    delimiter: Option<muster_import::Delimiter>,
    mapping: muster_import::HeadingMapping,
}

impl SentFile {
    /// Of an upload already read (of its own tenant).
    pub async fn read<C: ConnectionTrait>(db: &C, upload: &upload::Model) -> Result<Self, DbErr> {
        let content = file(db, upload.tenant_id, upload.id).await?;
        Ok(Self { content, delimiter: delimiter_of(upload), mapping: options_of(upload).plan.mapping })
    }

    /// The file to download again: passwords blanked and formulas neutralised
    /// ([`muster_import::results::original_file_into`]). Other admins of the tenant
    /// may download it, and new users' first passwords are not theirs to read.
    pub fn write_to<W: std::io::Write>(&self, sink: W) -> std::io::Result<W> {
        muster_import::results::original_file_into(&self.content, self.delimiter, &self.mapping, sink)
    }
}

/// The file as sent with every line's result: the results file.
pub struct ResultsFile {
    sent: SentFile,
    results: LineResults,
}

impl ResultsFile {
    /// Of an upload already read (of its own tenant).
    pub async fn read<C: ConnectionTrait>(db: &C, upload: &upload::Model) -> Result<Self, DbErr> {
        let results = LineResults::read(db, upload).await?;
        Ok(Self { sent: SentFile::read(db, upload).await?, results })
    }

    /// The file with a `result` column, passwords blanked, formulas neutralised.
    pub fn write_to<W: std::io::Write>(&self, sink: W) -> std::io::Result<W> {
        let SentFile { content, delimiter, mapping } = &self.sent;
        let result_of = |line| self.results.get(line).0.unwrap_or("Not loaded").to_owned();
        muster_import::results::results_file_into(content, *delimiter, mapping, result_of, sink)
    }
}

/// The lines "Retry failed rows" takes, in order: rows that failed, rows an
/// all-or-nothing load held back, and rows a failed load never reached that
/// would have changed something; not rows the admin unticked, nor unchanged or
/// skipped ones.
pub(super) fn to_retry(upload: &upload::Model) -> sea_orm::Select<upload_row::Entity> {
    use sea_orm::Condition;
    let not_reached = Condition::all()
        .add(upload_row::Column::Result.is_null())
        .add(upload_row::Column::Selected.eq(true))
        .add(upload_row::Column::Status.is_not_in([RowStatus::Unchanged.as_str(), RowStatus::Skipped.as_str()]));
    upload_row::Entity::find()
        .filter(upload_row::Column::TenantId.eq(upload.tenant_id))
        .filter(upload_row::Column::UploadId.eq(upload.id))
        .filter(upload_row::Column::Line.gt(0))
        .filter(
            Condition::any()
                .add(upload_row::Column::Outcome.eq(crate::load::outcome::ERROR))
                .add(upload_row::Column::Result.is_in(crate::load::HELD_BACK))
                .add(not_reached),
        )
}

/// How many lines "Retry failed rows" would take (see [`lines_to_retry`]).
pub async fn count_to_retry<C: ConnectionTrait>(db: &C, upload: &upload::Model) -> Result<u64, DbErr> {
    use sea_orm::PaginatorTrait;
    to_retry(upload).count(db).await
}

pub(super) async fn lines_to_retry<C: ConnectionTrait>(db: &C, upload: &upload::Model) -> Result<Vec<u64>, DbErr> {
    use sea_orm::QuerySelect;
    let lines: Vec<i32> = to_retry(upload)
        .select_only()
        .column(upload_row::Column::Line)
        .order_by_asc(upload_row::Column::Line)
        .into_tuple()
        .all(db)
        .await?;
    Ok(lines.into_iter().map(|l| l as u64).collect())
}

/// "Retry failed rows": a new upload of the heading line and the rows that were
/// not applied (see [`lines_to_retry`]), planned afresh against the tenant as it is now.
pub async fn retry_failed(
    db: &DatabaseConnection,
    tenant: &tenant::Model,
    upload_id: i64,
    uploaded_by: Option<i64>,
    max_bytes: usize,
) -> Result<Option<upload::Model>, UploadError> {
    let Some(upload) = find(db, tenant.id, upload_id).await? else {
        return Ok(None);
    };
    let lines = lines_to_retry(db, &upload).await?;
    let content = file(db, tenant.id, upload_id).await?;
    let bytes =
        muster_import::results::retry_file(&content, delimiter_of(&upload), |line| lines.binary_search(&line).is_ok());
    let options = options_of(&upload);
    let new =
        NewUpload { uploaded_by, file_name: format!("retry-of-{}-{}", upload.id, upload.file_name), bytes, options };
    create_and_plan(db, tenant, new, max_bytes).await.map(Some)
}
