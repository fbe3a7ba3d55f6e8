//! Every table of SPEC section 2. Each tenant-owned table carries `tenant_id`, and every
//! index that serves a tenant's query starts with it.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn created_at() -> ColumnDef {
    timestamp_with_time_zone("created_at")
}

fn tenant_fk(table: &'static str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_tenant"))
        .from(table, "tenant_id")
        .to("tenants", "id")
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

fn fk(
    table: &'static str,
    column: &'static str,
    to: &'static str,
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_{column}"))
        .from(table, column)
        .to(to, "id")
        .on_delete(on_delete)
        .to_owned()
}

fn index(table: &'static str, name: &str, columns: &[&'static str], unique: bool) -> IndexCreateStatement {
    let mut stmt = Index::create();
    stmt.name(format!("ix_{table}_{name}")).table(table);
    for column in columns {
        stmt.col(*column);
    }
    if unique {
        stmt.unique();
    }
    stmt.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("tenants")
                .col(big_pk_auto("id"))
                .col(string_len("slug", 64))
                .col(string_len("slug_norm", 64))
                .col(string_len("name", 200))
                // NULL means unlimited licences.
                .col(integer_null("licence_limit"))
                .col(created_at())
                .to_owned(),
        )
        .await?;
        m.create_index(index("tenants", "slug", &["slug_norm"], true)).await?;

        m.create_table(
            Table::create()
                .table("platform_admins")
                .col(big_pk_auto("id"))
                .col(string_len("username", 64))
                .col(string_len("username_norm", 64))
                .col(string_len("email", 254))
                .col(text("password_hash"))
                .col(created_at())
                .to_owned(),
        )
        .await?;
        m.create_index(index("platform_admins", "username", &["username_norm"], true)).await?;

        m.create_table(
            Table::create()
                .table("organisations")
                .col(big_pk_auto("id"))
                .col(big_integer("tenant_id"))
                .col(string_len("code", 32))
                .col(string_len("code_norm", 32))
                .col(string_len("name", 200))
                // The organisation new users join when a row gives none.
                .col(boolean("is_default").default(false))
                .col(created_at())
                .foreign_key(&mut tenant_fk("organisations"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("organisations", "code", &["tenant_id", "code_norm"], true)).await?;

        m.create_table(
            Table::create()
                .table("users")
                .col(big_pk_auto("id"))
                .col(big_integer("tenant_id"))
                .col(string_len("user_id", 64))
                .col(string_len("user_id_norm", 64))
                .col(string_len_null("external_id", 128))
                .col(string_len_null("external_id_norm", 128))
                .col(string_len_null("title", 20))
                .col(string_len_null("first_name", 100))
                .col(string_len_null("last_name", 100))
                .col(string_len("email", 254))
                .col(string_len("email_norm", 254))
                .col(string_len_null("mobile", 40))
                .col(string_len_null("job_title", 200))
                .col(big_integer_null("organisation_id"))
                // 'active' or 'leaver'
                .col(string_len("state", 16).default("active"))
                .col(boolean("enabled").default(true))
                .col(big_integer_null("reports_to_id"))
                // 'Email' or 'OFF'
                .col(string_len("task_notification", 8).default("Email"))
                .col(boolean("change_password_next_time").default(false))
                // Empty until the user accepts an invitation.
                .col(text_null("password_hash"))
                .col(boolean("is_tenant_admin").default(false))
                .col(created_at())
                .col(timestamp_with_time_zone("updated_at"))
                .foreign_key(&mut tenant_fk("users"))
                .foreign_key(&mut fk("users", "organisation_id", "organisations", ForeignKeyAction::Restrict))
                .foreign_key(&mut fk("users", "reports_to_id", "users", ForeignKeyAction::SetNull))
                .to_owned(),
        )
        .await?;
        m.create_index(index("users", "user_id", &["tenant_id", "user_id_norm"], true)).await?;
        m.create_index(index("users", "email", &["tenant_id", "email_norm"], true)).await?;
        // Both databases let several NULLs share a unique index: externalId is unique only when present.
        m.create_index(index("users", "external_id", &["tenant_id", "external_id_norm"], true)).await?;
        m.create_index(index("users", "organisation", &["tenant_id", "organisation_id"], false)).await?;
        m.create_index(index("users", "state_name", &["tenant_id", "state", "last_name"], false)).await?;
        m.create_index(index("users", "reports_to", &["reports_to_id"], false)).await?;

        for (table, member_table, member_column) in
            [("roles", "user_roles", "role_id"), ("groups", "user_groups", "group_id")]
        {
            m.create_table(
                Table::create()
                    .table(table)
                    .col(big_pk_auto("id"))
                    .col(big_integer("tenant_id"))
                    .col(string_len("name", 100))
                    .col(string_len("name_norm", 100))
                    .col(created_at())
                    .foreign_key(&mut tenant_fk(table))
                    .to_owned(),
            )
            .await?;
            m.create_index(index(table, "name", &["tenant_id", "name_norm"], true)).await?;

            m.create_table(
                Table::create()
                    .table(member_table)
                    .col(big_integer("tenant_id"))
                    .col(big_integer("user_id"))
                    .col(big_integer(member_column))
                    .primary_key(Index::create().col("user_id").col(member_column))
                    .foreign_key(&mut tenant_fk(member_table))
                    .foreign_key(&mut fk(member_table, "user_id", "users", ForeignKeyAction::Cascade))
                    .foreign_key(&mut fk(member_table, member_column, table, ForeignKeyAction::Cascade))
                    .to_owned(),
            )
            .await?;
            m.create_index(index(member_table, "member", &[member_column], false)).await?;
        }

        m.create_table(
            Table::create()
                .table("uploads")
                .col(big_pk_auto("id"))
                .col(big_integer("tenant_id"))
                .col(big_integer_null("uploaded_by"))
                .col(string_len("file_name", 255))
                // SHA-256 of the file: the same file submitted twice is recognised by it.
                .col(string_len("content_hash", 64))
                .col(blob("content"))
                .col(string_len("format", 16))
                .col(string_len("encoding", 16))
                .col(string_len("delimiter", 4))
                .col(json_null("options"))
                // validating, ready, queued, running, done, failed, cancelled
                .col(string_len("state", 16))
                // The plan's summary (counts, file diagnostics, roles and groups added).
                .col(json_null("plan_summary"))
                .col(integer("rows_total").default(0))
                .col(integer("rows_done").default(0))
                .col(text_null("summary"))
                .col(text_null("error"))
                .col(created_at())
                .col(timestamp_with_time_zone_null("queued_at"))
                .col(timestamp_with_time_zone_null("started_at"))
                .col(timestamp_with_time_zone_null("finished_at"))
                .foreign_key(&mut tenant_fk("uploads"))
                .foreign_key(&mut fk("uploads", "uploaded_by", "users", ForeignKeyAction::SetNull))
                .to_owned(),
        )
        .await?;
        m.create_index(index("uploads", "created", &["tenant_id", "created_at"], false)).await?;
        m.create_index(index("uploads", "hash", &["tenant_id", "content_hash"], false)).await?;
        m.create_index(index("uploads", "state", &["tenant_id", "state"], false)).await?;

        m.create_table(
            Table::create()
                .table("upload_rows")
                .col(big_pk_auto("id"))
                .col(big_integer("tenant_id"))
                .col(big_integer("upload_id"))
                // Position of the record in the file, and its first line as an editor shows it.
                .col(integer("row_index"))
                .col(integer("line"))
                .col(string_len("status", 16))
                // The admin's Add/Update tick box.
                .col(boolean("selected").default(true))
                // The parsed row (the import engine's UserRow) that the load applies.
                .col(json_null("record"))
                .col(big_integer_null("existing_user_id"))
                .col(json_null("diagnostics"))
                .col(json_null("changes"))
                // What happened when the row was applied; NULL until then. A row with a
                // result is never applied again, which is what makes a resumed load exact.
                .col(text_null("result"))
                .col(string_len_null("outcome", 16))
                .foreign_key(&mut tenant_fk("upload_rows"))
                .foreign_key(&mut fk("upload_rows", "upload_id", "uploads", ForeignKeyAction::Cascade))
                .to_owned(),
        )
        .await?;
        m.create_index(index("upload_rows", "position", &["upload_id", "row_index"], true)).await?;
        m.create_index(index("upload_rows", "status", &["upload_id", "status"], false)).await?;

        m.create_table(
            Table::create()
                .table("jobs")
                .col(big_pk_auto("id"))
                .col(big_integer("tenant_id"))
                .col(string_len("kind", 32))
                .col(big_integer_null("upload_id"))
                // queued, running, done, failed
                .col(string_len("state", 16))
                .col(string_len_null("locked_by", 64))
                // A worker holds a job until its lease runs out; another may then take it over.
                .col(timestamp_with_time_zone_null("lease_until"))
                .col(integer("attempts").default(0))
                .col(text_null("last_error"))
                .col(created_at())
                .foreign_key(&mut tenant_fk("jobs"))
                .foreign_key(&mut fk("jobs", "upload_id", "uploads", ForeignKeyAction::Cascade))
                .to_owned(),
        )
        .await?;
        m.create_index(index("jobs", "claim", &["state", "lease_until"], false)).await?;
        // One load per upload, even when two tabs press Load at the same moment.
        m.create_index(index("jobs", "upload", &["upload_id"], true)).await?;
        m.create_index(index("jobs", "tenant", &["tenant_id", "state"], false)).await?;

        m.create_table(
            Table::create()
                .table("notifications")
                .col(big_pk_auto("id"))
                .col(big_integer("tenant_id"))
                .col(big_integer("user_id"))
                .col(string_len("kind", 32))
                .col(text("message"))
                .col(big_integer_null("upload_id"))
                .col(boolean("read").default(false))
                .col(created_at())
                .foreign_key(&mut tenant_fk("notifications"))
                .foreign_key(&mut fk("notifications", "user_id", "users", ForeignKeyAction::Cascade))
                .foreign_key(&mut fk("notifications", "upload_id", "uploads", ForeignKeyAction::Cascade))
                .to_owned(),
        )
        .await?;
        m.create_index(index("notifications", "inbox", &["tenant_id", "user_id", "read", "created_at"], false)).await?;

        m.create_table(
            Table::create()
                .table("audit_events")
                .col(big_pk_auto("id"))
                .col(big_integer("tenant_id"))
                // Who: kept as text too, so the trail survives the actor's deletion.
                .col(big_integer_null("actor_user_id"))
                .col(string_len("actor", 128))
                .col(string_len("action", 32))
                .col(string_len("target_kind", 16))
                .col(big_integer_null("target_id"))
                .col(string_len("target", 254))
                .col(big_integer_null("upload_id"))
                .col(json_null("details"))
                .col(created_at())
                .foreign_key(&mut tenant_fk("audit_events"))
                .foreign_key(&mut fk("audit_events", "upload_id", "uploads", ForeignKeyAction::SetNull))
                .to_owned(),
        )
        .await?;
        m.create_index(index("audit_events", "created", &["tenant_id", "created_at"], false)).await?;
        m.create_index(index("audit_events", "target", &["tenant_id", "target_kind", "target_id"], false)).await?;

        m.create_table(
            Table::create()
                .table("sessions")
                // SHA-256 of the cookie's token: a stolen database does not yield live sessions.
                .col(string_len("id", 64).primary_key())
                .col(big_integer_null("tenant_id"))
                .col(big_integer_null("user_id"))
                .col(big_integer_null("platform_admin_id"))
                .col(created_at())
                .col(timestamp_with_time_zone("expires_at"))
                .foreign_key(&mut tenant_fk("sessions"))
                .foreign_key(&mut fk("sessions", "user_id", "users", ForeignKeyAction::Cascade))
                .foreign_key(&mut fk("sessions", "platform_admin_id", "platform_admins", ForeignKeyAction::Cascade))
                .to_owned(),
        )
        .await?;
        m.create_index(index("sessions", "expires", &["expires_at"], false)).await?;

        m.create_table(
            Table::create()
                .table("api_tokens")
                .col(big_pk_auto("id"))
                .col(big_integer("tenant_id"))
                .col(string_len("name", 100))
                .col(string_len("token_hash", 64))
                .col(big_integer_null("created_by"))
                .col(created_at())
                .col(timestamp_with_time_zone_null("last_used_at"))
                .col(timestamp_with_time_zone_null("revoked_at"))
                .foreign_key(&mut tenant_fk("api_tokens"))
                .foreign_key(&mut fk("api_tokens", "created_by", "users", ForeignKeyAction::SetNull))
                .to_owned(),
        )
        .await?;
        m.create_index(index("api_tokens", "hash", &["token_hash"], true)).await?;
        m.create_index(index("api_tokens", "tenant", &["tenant_id"], false)).await?;

        m.create_table(
            Table::create()
                .table("invitations")
                .col(big_pk_auto("id"))
                .col(big_integer("tenant_id"))
                .col(big_integer("user_id"))
                .col(string_len("token_hash", 64))
                .col(timestamp_with_time_zone("expires_at"))
                .col(timestamp_with_time_zone_null("used_at"))
                .col(created_at())
                .foreign_key(&mut tenant_fk("invitations"))
                .foreign_key(&mut fk("invitations", "user_id", "users", ForeignKeyAction::Cascade))
                .to_owned(),
        )
        .await?;
        m.create_index(index("invitations", "hash", &["token_hash"], true)).await?;
        m.create_index(index("invitations", "user", &["tenant_id", "user_id"], false)).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "invitations",
            "api_tokens",
            "sessions",
            "audit_events",
            "notifications",
            "jobs",
            "upload_rows",
            "uploads",
            "user_groups",
            "groups",
            "user_roles",
            "roles",
            "users",
            "organisations",
            "platform_admins",
            "tenants",
        ] {
            m.drop_table(Table::drop().table(table).if_exists().to_owned()).await?;
        }
        Ok(())
    }
}
