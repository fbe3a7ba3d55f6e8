//! Configuration: command-line flags, each with an environment variable.
use clap::Args;
use muster_app::ssr::client::Proxies;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Folder for the embedded database, the outbox and other local state.
    #[arg(long, env = "MUSTER_DATA_DIR", default_value = "data", global = true)]
    pub data_dir: PathBuf,

    /// Database to use. Default: a SQLite file `muster.db` in the data folder.
    /// `postgres://user@host/db` runs on PostgreSQL.
    #[arg(long, env = "DATABASE_URL", global = true)]
    pub database_url: Option<String>,

    /// Address and port to listen on (port 0 picks a free one).
    #[arg(long, env = "MUSTER_ADDR", default_value = "127.0.0.1:3000", global = true)]
    pub addr: SocketAddr,

    /// Folder holding `pkg/` with the WebAssembly front end and the stylesheet.
    #[arg(long, env = "MUSTER_SITE_ROOT", default_value = "target/site", global = true)]
    pub site_root: PathBuf,

    /// The address users reach Muster at; `https://…` makes the session
    /// cookie Secure and `__Host-muster_session`.
    #[arg(long, env = "MUSTER_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,

    /// Reverse proxies in front of Muster, comma-separated addresses or
    /// networks (`10.0.0.1,fd00::/8`): from them, the client's address is read
    /// from `X-Forwarded-For` (for the sign-in throttle). Default: none, every
    /// peer is the client.
    #[arg(long, env = "MUSTER_TRUSTED_PROXIES", value_delimiter = ',', global = true)]
    pub trusted_proxies: Vec<Proxies>,

    /// Outgoing mail server, e.g. `smtp://host:25`. Default: mail is written as
    /// `.eml` files to the outbox folder inside the data folder.
    #[arg(long, env = "SMTP_URL", global = true)]
    pub smtp_url: Option<String>,

    /// The platform admin's user name, made on the first start of an empty
    /// database. Default: `admin-` and six random characters (printed once
    /// with its password), not one name every installation shares.
    #[arg(long, env = "MUSTER_PLATFORM_ADMIN", global = true)]
    pub platform_admin: Option<String>,

    /// Whether the first start of an empty database also makes the demo
    /// tenant ("demo") and its admin. `false` for an installation that will
    /// hold real tenants only.
    #[arg(long, env = "MUSTER_DEMO_TENANT", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub demo_tenant: bool,

    /// Largest file accepted, in megabytes (1 MB = 1,048,576 bytes), from the
    /// upload page and from `muster import`; a larger one is refused before it
    /// is stored.
    #[arg(long, env = "MUSTER_MAX_UPLOAD_MB", default_value_t = 50, global = true)]
    pub max_upload_mb: usize,

    /// How often, in milliseconds, each open event stream looks in the
    /// database for events this process was not told of: a command-line
    /// import's on SQLite; on PostgreSQL other processes announce theirs
    /// (LISTEN/NOTIFY) and this is only the safety net for a lost announcement.
    #[arg(long, env = "MUSTER_EVENTS_LOOK_MS", default_value_t = 500, global = true)]
    pub events_look_ms: u64,

    /// Whether `serve` also runs queued loads. `false` for a process that
    /// only serves pages beside others that load (all on one PostgreSQL).
    #[arg(long, env = "MUSTER_RUN_LOADS", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub run_loads: bool,
}

impl Config {
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .filter(|url| !url.trim().is_empty())
            .unwrap_or_else(|| muster_store::db::sqlite_url(&self.data_dir.join("muster.db")))
    }

    pub fn outbox_dir(&self) -> PathBuf {
        self.data_dir.join("outbox")
    }

    pub fn first_run(&self) -> muster_store::bootstrap::FirstRunOptions {
        muster_store::bootstrap::FirstRunOptions {
            platform_admin: self.platform_admin.clone().filter(|n| !n.trim().is_empty()),
            demo_tenant: self.demo_tenant,
        }
    }

    pub fn max_upload_bytes(&self) -> usize {
        self.max_upload_mb.saturating_mul(1024 * 1024)
    }

    pub fn secure_cookies(&self) -> bool {
        self.public_url.as_deref().is_some_and(|u| u.starts_with("https://"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        config: Config,
    }

    #[test]
    fn trusted_proxies_are_addresses_or_networks_and_a_bad_one_is_refused_with_its_reason() {
        let cli = Cli::try_parse_from(["muster", "--trusted-proxies", "10.0.0.0/8, 192.0.2.7,fd00::/8"]).unwrap();
        let named: Vec<String> = cli.config.trusted_proxies.iter().map(|p| p.to_string()).collect();
        assert_eq!(named, ["10.0.0.0/8", "192.0.2.7/32", "fd00::/8"]);
        let error = Cli::try_parse_from(["muster", "--trusted-proxies", "10.0.0.0/8,10.0.0.0/40"]).err().unwrap();
        assert!(
            error.to_string().contains("trusted proxy `10.0.0.0/40`: the prefix length must be a number from 0 to 32"),
            "{error}"
        );
    }
}
