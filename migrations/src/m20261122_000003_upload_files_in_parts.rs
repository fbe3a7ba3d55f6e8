//! An uploaded file is stored in parts of at most 1 MiB, not as one value of
//! the upload's row: a 50 MB file bound as one statement parameter was copied
//! three or four times by the drivers (260 MB for a 60 MB file), and every read
//! of an upload's state carried the whole file with it. A part goes with its
//! upload, and so with the upload's tenant (see migration 4 for why no foreign
//! key to `tenants`).
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    // All of it or none of it, on SQLite too.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("upload_parts")
                .col(big_integer("upload_id"))
                .col(integer("part"))
                .col(big_integer("tenant_id"))
                .col(blob("bytes"))
                .primary_key(Index::create().col("upload_id").col("part"))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_upload_parts_upload_id")
                        .from("upload_parts", "upload_id")
                        .to("uploads", "id")
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        // Files stored before this migration become one part each.
        m.get_connection()
            .execute_unprepared(
                "INSERT INTO upload_parts (upload_id, part, tenant_id, bytes) \
                 SELECT id, 0, tenant_id, content FROM uploads WHERE length(content) > 0",
            )
            .await?;
        m.alter_table(Table::alter().table("uploads").drop_column("content").to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table("uploads").add_column(blob("content").default(Vec::<u8>::new())).to_owned())
            .await?;
        // Each file back into its row, its parts joined in order.
        let db = m.get_connection();
        let backend = db.get_database_backend();
        let uploads =
            db.query_all_raw(Statement::from_string(backend, "SELECT DISTINCT upload_id FROM upload_parts")).await?;
        for row in uploads {
            let upload_id: i64 = row.try_get_by_index(0)?;
            let select = Query::select()
                .column(Alias::new("bytes"))
                .from(Alias::new("upload_parts"))
                .and_where(Expr::col(Alias::new("upload_id")).eq(upload_id))
                .order_by(Alias::new("part"), Order::Asc)
                .to_owned();
            let mut content = Vec::new();
            for part in db.query_all_raw(backend.build(&select)).await? {
                content.extend(part.try_get_by_index::<Vec<u8>>(0)?);
            }
            let update = Query::update()
                .table(Alias::new("uploads"))
                .value(Alias::new("content"), content)
                .and_where(Expr::col(Alias::new("id")).eq(upload_id))
                .to_owned();
            db.execute_raw(backend.build(&update)).await?;
        }
        m.drop_table(Table::drop().table("upload_parts").to_owned()).await
    }
}
