//! What the preview shows of a planned row without reading its record: the
//! engine's sentence for it, and whose row it is (an Old row, a user the file
//! does not name, has no record). And, on the upload, where the server's check
//! of the file's own rules counted differently from the browser's (the same
//! engine, so a sign of a stale page or a bug): said, never hidden.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table("uploads").add_column(text_null("check_differs")).to_owned()).await?;
        for column in ["message", "user_id", "full_name"] {
            m.alter_table(Table::alter().table("upload_rows").add_column(text_null(column)).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in ["message", "user_id", "full_name"] {
            m.alter_table(Table::alter().table("upload_rows").drop_column(column).to_owned()).await?;
        }
        m.alter_table(Table::alter().table("uploads").drop_column("check_differs").to_owned()).await
    }
}
