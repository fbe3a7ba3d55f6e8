//! The slow tier, opt-in: `scripts/test.sh --slow` (or `cargo test -p muster-store
//! --test store slow -- --ignored`). A 100 000-row upload end to end on every backend.
use muster_store::entity::{tenant, upload_row, user};
use muster_store::load::{self, UploadOptions};
use muster_store::testdb::on_every_backend;
use muster_store::uploads::{self, NewUpload};
use muster_store::{jobs, tenants};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};

const ROWS: usize = 100_000;

fn file(rows: usize) -> Vec<u8> {
    let mut text = String::with_capacity(rows * 90);
    text.push_str("userId,email,firstName,lastName,jobTitle,roles,reportsTo\n");
    for i in 0..rows {
        // Every user but the first reports to the one a hundred rows before (or
        // to the first): managers defined earlier and in other batches.
        let manager = if i == 0 { String::new() } else { format!("u{}", i.saturating_sub(100)) };
        text.push_str(&format!("u{i},u{i}@example.org,Zoë,Brontë{i},Nurse,Staff|Reader,{manager}\n"));
    }
    text.into_bytes()
}

async fn users(db: &DatabaseConnection, t: &tenant::Model) -> u64 {
    user::Entity::find().filter(user::Column::TenantId.eq(t.id)).count(db).await.unwrap()
}

#[tokio::test]
#[ignore = "slow tier: scripts/test.sh --slow"]
async fn a_100k_row_upload_loads_every_row_once() {
    on_every_backend(|db, backend| async move {
        let t = tenants::create_tenant(&db, "big", "Big", None).await.unwrap();
        let new = NewUpload {
            uploaded_by: None,
            file_name: "big.csv".into(),
            bytes: file(ROWS),
            options: UploadOptions::default(),
        };
        let upload = uploads::create_and_plan(&db, &t, new, 50 * 1024 * 1024).await.unwrap();
        assert_eq!((upload.state.as_str(), upload.rows_total), ("ready", ROWS as i32), "{backend:?}");
        jobs::enqueue_load(&db, &upload).await.unwrap();
        let job = jobs::claim(&db, "slow").await.unwrap().unwrap();
        let mut reported = Vec::new();
        let report = load::run(
            &db,
            upload.id,
            Some(&load::Claim::of(&job, "slow")),
            |p| {
                reported.push((p.done, p.total));
                true
            },
            |_| {},
        )
        .await
        .unwrap();
        assert!(report.finished);
        jobs::finish(&db, &job, None).await.unwrap();
        assert_eq!(
            report.counts.summary(),
            "Users loaded successfully. 100000 added, 0 updated, 0 leavers, 0 joiners, 0 deleted, 2 roles added.",
            "{backend:?}"
        );
        assert_eq!(users(&db, &t).await, ROWS as u64);
        assert_eq!(reported.last(), Some(&(ROWS as i64, ROWS as i64)), "progress reaches the end");
        assert_eq!(reported.len(), ROWS.div_ceil(load::BATCH as usize), "progress after every batch");
        let without_result = upload_row::Entity::find()
            .filter(upload_row::Column::UploadId.eq(upload.id))
            .filter(upload_row::Column::Result.is_null())
            .count(&db)
            .await
            .unwrap();
        assert_eq!(without_result, 0);
        let last = user::Entity::find()
            .filter(user::Column::TenantId.eq(t.id))
            .filter(user::Column::UserIdNorm.eq(format!("u{}", ROWS - 1)))
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        let manager = user::Entity::find_by_id(last.reports_to_id.expect("a manager")).one(&db).await.unwrap().unwrap();
        assert_eq!(manager.user_id, format!("u{}", ROWS - 101));
    })
    .await;
}
