//! Uploads from plan to load, on SQLite and PostgreSQL: every row status applied,
//! results per row, a second load of the same file changes nothing, duplicates
//! and concurrent loads are caught, and an interrupted load resumes exactly.
use muster_store::entity::user::UserState;
mod apply;
mod events;
mod mail;
mod preview;
mod queue;
mod results;
use chrono::Utc;
use muster_import::{Mode, SyncAction};
use muster_store::entity::{
    audit_event, invitation, job, mail_owed, organisation, role, tenant, upload, upload_row, user, user_role,
};
use muster_store::load::{self, Outgoing, UploadOptions};
use muster_store::testdb::{self, on_every_backend};
use muster_store::uploads::{self, NewUpload, UploadError};
use muster_store::{invitations, jobs, tenants};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
    TransactionTrait,
};

async fn add_user(
    db: &DatabaseConnection,
    t: &tenant::Model,
    user_id: &str,
    org: i64,
    f: impl FnOnce(&mut user::ActiveModel),
) -> user::Model {
    let mut m = testdb::user(t.id, user_id, &format!("{user_id}@example.com"));
    m.first_name = Set(Some(user_id.to_uppercase()));
    m.last_name = Set(Some("Existing".into()));
    m.organisation_id = Set(Some(org));
    f(&mut m);
    m.insert(db).await.unwrap()
}

struct World {
    tenant: tenant::Model,
    rxx01: organisation::Model,
    rxx02: organisation::Model,
}

async fn world(db: &DatabaseConnection) -> World {
    let tenant = tenants::create_tenant(db, "acme", "Acme", None).await.unwrap();
    let rxx01 = tenants::create_organisation(db, tenant.id, "RXX01", "One").await.unwrap();
    let rxx02 = tenants::create_organisation(db, tenant.id, "RXX02", "Two").await.unwrap();
    add_user(db, &tenant, "pat", rxx01.id, |u| {
        u.external_id = Set(Some("E1".into()));
        u.external_id_norm = Set(Some("e1".into()));
        u.job_title = Set(Some("Nurse".into()));
    })
    .await;
    add_user(db, &tenant, "sam", rxx01.id, |u| u.state = Set(UserState::Leaver)).await;
    add_user(db, &tenant, "kim", rxx02.id, |_| {}).await;
    add_user(db, &tenant, "lee", rxx02.id, |_| {}).await;
    World { tenant, rxx01, rxx02 }
}

const FILE: &str =
    "userId,externalId,firstName,lastName,email,jobTitle,organisation,status,roles,reportsTo,transaction\n\
new1,,Ann,New,new1@example.com,,,,Coordinator|Staff,new2,\n\
new2,,Bob,New,new2@example.com,,,,,,\n\
pat,e1,,,pat@example.com,Sister,,,,,\n\
kim,,,,kim@example.com,,,leaver,,,\n\
sam,,,,sam@example.com,,RXX02,,,,\n\
lee,,,,lee@example.com,,,,,,DELETE\n\
bad,,X,Y,bad@,,,,,,\n";

async fn plan_file(
    db: &DatabaseConnection,
    t: &tenant::Model,
    bytes: &[u8],
) -> Result<muster_store::entity::upload::Model, UploadError> {
    plan_with(db, t, UploadOptions::default(), bytes).await
}

/// A file planned with the options given.
async fn plan_with(
    db: &DatabaseConnection,
    t: &tenant::Model,
    options: UploadOptions,
    bytes: &[u8],
) -> Result<muster_store::entity::upload::Model, UploadError> {
    let new = NewUpload { uploaded_by: None, file_name: "users.csv".into(), bytes: bytes.to_vec(), options };
    uploads::create_and_plan(db, t, new, 50 * 1024 * 1024).await
}

/// A file planned with the all-or-nothing option.
async fn plan_all_or_nothing(
    db: &DatabaseConnection,
    t: &tenant::Model,
    bytes: &[u8],
) -> muster_store::entity::upload::Model {
    let mut options = UploadOptions::default();
    options.load.stop_on_error = true;
    plan_with(db, t, options, bytes).await.unwrap()
}

/// Runs every queued load as a worker would, whose mail all goes out.
async fn load_all(db: &DatabaseConnection) -> Vec<Outgoing> {
    let mut mail: Vec<load::Mailing> = Vec::new();
    while let Some(job) = jobs::claim(db, "test").await.unwrap() {
        let claim = load::Claim::of(&job, "test");
        let report = load::run(db, job.upload_id.unwrap(), Some(&claim), |_| true, |m| mail.push(m)).await.unwrap();
        assert!(report.finished);
        jobs::finish(db, &job, None).await.unwrap();
    }
    for mailing in &mail {
        let owed: Vec<i64> = mailing.messages.iter().map(|m| m.owed).collect();
        load::mail_sent(db, mailing, &owed).await.unwrap();
    }
    mail.into_iter().flat_map(|m| m.messages).map(|m| m.outgoing).collect()
}

/// New roles of the tenant, given to one user as the database has them.
async fn give_roles(db: &DatabaseConnection, t: &tenant::Model, user_id: i64, names: &[&str]) {
    for name in names {
        let role = role::ActiveModel {
            tenant_id: Set(t.id),
            name: Set((*name).into()),
            name_norm: Set(name.to_lowercase()),
            created_at: Set(Utc::now()),
            ..Default::default()
        }
        .insert(db)
        .await
        .unwrap();
        user_role::ActiveModel { tenant_id: Set(t.id), user_id: Set(user_id), role_id: Set(role.id) }
            .insert(db)
            .await
            .unwrap();
    }
}

/// The job's lease runs out, as when its worker stalled or died.
async fn expire_lease(db: &DatabaseConnection, job_id: i64) {
    job::Entity::update_many()
        .col_expr(job::Column::LeaseUntil, Expr::value(Utc::now() - chrono::Duration::seconds(1)))
        .filter(job::Column::Id.eq(job_id))
        .exec(db)
        .await
        .unwrap();
}

async fn find(db: &DatabaseConnection, t: &tenant::Model, user_id: &str) -> Option<user::Model> {
    user::Entity::find()
        .filter(user::Column::TenantId.eq(t.id))
        .filter(user::Column::UserIdNorm.eq(user_id))
        .one(db)
        .await
        .unwrap()
}

/// Plans `bytes` with `options` and loads it; the mail the load sends.
async fn load_with(
    db: &DatabaseConnection,
    t: &tenant::Model,
    options: UploadOptions,
    bytes: &[u8],
) -> (muster_store::entity::upload::Model, Vec<Outgoing>) {
    let upload = plan_with(db, t, options, bytes).await.unwrap();
    jobs::enqueue_load(db, &upload).await.unwrap();
    let mail = load_all(db).await;
    (upload, mail)
}

async fn outcomes(db: &DatabaseConnection, t: &tenant::Model, upload_id: i64) -> Vec<(String, String)> {
    uploads::rows(db, t.id, upload_id)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.outcome.unwrap_or_default(), r.result.unwrap_or_default()))
        .collect()
}

/// Loads `bytes` as a worker that dies (or whose mail server fails) once the
/// batches committed: the mail they owe, handed over and never sent.
async fn load_losing_mail(
    db: &DatabaseConnection,
    t: &tenant::Model,
    options: UploadOptions,
    bytes: &[u8],
) -> (i64, Vec<load::Mailing>) {
    let upload = plan_with(db, t, options, bytes).await.unwrap();
    jobs::enqueue_load(db, &upload).await.unwrap();
    let job = jobs::claim(db, "dies").await.unwrap().unwrap();
    let mut lost = Vec::new();
    let claim = load::Claim::of(&job, "dies");
    assert!(load::run(db, upload.id, Some(&claim), |_| true, |m| lost.push(m)).await.unwrap().finished);
    jobs::finish(db, &job, None).await.unwrap();
    (upload.id, lost)
}

/// Everything owed, whatever its claim: as a worker finds it once claims ran
/// out. A mailing a message.
async fn claim_everything(db: &DatabaseConnection) -> Vec<load::Mailing> {
    let mailings = load::claim_unsent_mail(db, chrono::Duration::days(1), 1000).await.unwrap();
    assert!(mailings.iter().all(|m| m.messages.len() == 1));
    mailings
}

fn token_of(m: &load::Message) -> (String, String) {
    match &m.outgoing {
        Outgoing::Invitation { user_id, token, .. } => (user_id.clone(), token.clone()),
        other => panic!("{other:?}"),
    }
}

/// The jobs that `workers` workers claimed all at once, each on its own connection.
async fn claimed_at_once(db: &DatabaseConnection, workers: usize) -> Vec<job::Model> {
    let claims: Vec<_> = (0..workers)
        .map(|w| {
            let db = db.clone();
            tokio::spawn(async move { jobs::claim(&db, &format!("w{w}")).await })
        })
        .collect();
    let mut claimed = Vec::new();
    for c in claims {
        claimed.extend(c.await.unwrap().unwrap_or_else(|err| panic!("claim failed: {err}")));
    }
    claimed
}

/// A file of `n` new users, more than one batch.
fn many_users(prefix: &str, n: usize) -> String {
    let mut file = String::from("userId,email,firstName\n");
    for i in 0..n {
        file.push_str(&format!("{prefix}{i},{prefix}{i}@x.io,R\n"));
    }
    file
}

/// The statements one load of `bytes` sends, inside its transactions too
/// (BEGIN, COMMIT and ANALYZE aside), and its summary.
async fn statements_of_a_load(
    db: &DatabaseConnection,
    t: &tenant::Model,
    bytes: Vec<u8>,
    options: UploadOptions,
) -> (usize, String) {
    let new = NewUpload { uploaded_by: None, file_name: "count.csv".into(), bytes, options };
    let upload = uploads::create_and_plan(db, t, new, 50 << 20).await.unwrap();
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut counted = db.clone();
    counted.set_metric_callback({
        let sent = sent.clone();
        move |_| {
            sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let report = load::run(&counted, upload.id, None, |_| true, |_| {}).await.unwrap();
    let results = String::from_utf8(uploads::results_csv(db, t.id, upload.id).await.unwrap().unwrap()).unwrap();
    assert!(report.finished && report.counts.errors == 0, "{}\n{results}", report.counts.summary());
    (sent.load(std::sync::atomic::Ordering::SeqCst), report.counts.summary())
}

/// The kinds of the tenant's events after `after`, oldest first.
async fn event_kinds(db: &DatabaseConnection, tenant_id: i64, after: i64) -> Vec<(i64, String, String)> {
    muster_store::events::after(db, tenant_id, after, chrono::Duration::zero(), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.upload_id.unwrap(), e.kind, e.data["state"].as_str().unwrap_or_default().to_owned()))
        .collect()
}

/// A tenant admin of `t`, as tests make one.
async fn admin_of(db: &DatabaseConnection, t: &tenant::Model, user_id: &str) -> i64 {
    let mut admin = testdb::user(t.id, user_id, &format!("{user_id}@example.com"));
    admin.is_tenant_admin = Set(true);
    admin.insert(db).await.unwrap().id
}

async fn told(db: &DatabaseConnection, tenant_id: i64, admin: i64) -> Vec<(String, String)> {
    let mut found = muster_store::notifications::latest(db, tenant_id, admin, None, 100).await.unwrap();
    found.reverse();
    found.into_iter().map(|n| (n.kind, n.message)).collect()
}
