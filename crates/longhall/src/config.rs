//! The one configuration struct: defaults, then the TOML file, then `LONGHALL_*` environment
//! variables, then command-line flags.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The store backend.
    pub store: StoreBackend,
    /// The PostgreSQL database of `store = "postgres"` (a `postgres://` URL or `key=value` string).
    pub postgres_url: String,
    /// How the servers of a pool (several on one PostgreSQL database) tell each other about
    /// commits: `postgres` (LISTEN/NOTIFY, the default with that store) or `nats`.
    pub bus: BusBackend,
    /// The NATS server of `bus = "nats"` (`nats://host:port`).
    pub nats_url: String,
    /// Directory holding the chat store, the compliance store and the file store.
    pub data_dir: PathBuf,
    /// The deployment's domain: it names rooms in compliance output (`ma-chan://<domain>/<id>`).
    pub domain: String,
    /// Address and port of the web client, API and WebSocket.
    pub listen: String,
    /// Login of the administrator created on first start.
    pub admin_login: String,
    /// `text` or `json`.
    pub log_format: String,
    /// A tracing filter such as `info` or `longhall=debug,info`.
    pub log_level: String,
    /// Browser origins besides the server's own whose pages may open the WebSocket (`*`: any).
    pub allowed_origins: Vec<String>,
    /// Addresses of reverse proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<String>,
    /// This server's id in a pool (PostgreSQL); empty: one generated at first start and kept
    /// in the data directory (`server-id`).
    pub server_id: String,
    /// The URL where the other servers of the pool and administrators reach this server's API;
    /// empty: `http://` and the address it listens on.
    pub advertise_url: String,
    /// The pool's backup database (a streaming standby of `postgres_url`, promoted at
    /// failover): what every server uses while the pool state is `failed_over`.
    pub postgres_backup_url: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            store: StoreBackend::Sqlite,
            postgres_url: String::new(),
            bus: BusBackend::Postgres,
            nats_url: "nats://127.0.0.1:4222".into(),
            data_dir: PathBuf::from("longhall-data"),
            domain: "longhall.local".into(),
            listen: "127.0.0.1:8080".into(),
            admin_login: "admin@longhall.local".into(),
            log_format: "text".into(),
            log_level: "info".into(),
            allowed_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            server_id: String::new(),
            advertise_url: String::new(),
            postgres_backup_url: String::new(),
        }
    }
}

/// Where the deployment's chat and compliance stores live: SQLite files in `data_dir`, or a
/// PostgreSQL database (`postgres_url`). Uploaded files are in `data_dir` either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    Sqlite,
    Postgres,
}

/// The bus of a pool. Only a PostgreSQL store is shared by several servers; with SQLite one
/// server owns the data directory and uses no bus, whatever this says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BusBackend {
    Postgres,
    Nats,
}

/// Every key, which is also the name of its environment variable after `LONGHALL_`.
const KEYS: &[&str] = &[
    "store",
    "postgres_url",
    "bus",
    "nats_url",
    "data_dir",
    "domain",
    "listen",
    "admin_login",
    "log_format",
    "log_level",
    "allowed_origins",
    "trusted_proxies",
    "server_id",
    "advertise_url",
    "postgres_backup_url",
];

/// Keys holding a list; their environment variable separates the entries by commas.
const LIST_KEYS: &[&str] = &["allowed_origins", "trusted_proxies"];

/// The commented default file (`longhall config print-default`).
pub const DEFAULT_FILE: &str = r#"# Longhall configuration. Every key may also be set by an environment variable
# (LONGHALL_<KEY>, e.g. LONGHALL_LISTEN); data_dir and listen also by a flag
# (--data-dir, --listen). Flags win over the environment, which wins over this file.

# The store backend: "sqlite" (chat.db and compliance.db in data_dir) or "postgres"
# (the PostgreSQL database of postgres_url, which a pool of servers may share: see bus).
store = "sqlite"

# With store = "postgres": the database, e.g. "postgres://longhall@127.0.0.1/longhall"
# (a password is better given in LONGHALL_POSTGRES_URL or ~/.pgpass than in this file).
postgres_url = ""

# With store = "postgres", several servers may serve one database together (a pool: any
# server serves any room; docs/operations.md). They tell each other about commits over a
# bus: "postgres" (LISTEN/NOTIFY on the same database; nothing else to run) or "nats"
# (a NATS server, nats_url). Every server of a pool must name the same bus. Ignored with
# store = "sqlite", where one server owns the data directory.
bus = "postgres"

# With bus = "nats": the NATS server, e.g. "nats://127.0.0.1:4222".
nats_url = "nats://127.0.0.1:4222"

# Directory holding the chat store (chat.db), the compliance store (compliance.db)
# and the file store (files/). Created on first start.
data_dir = "longhall-data"

# The deployment's domain, e.g. "example.org". Compliance output names each room
# ma-chan://<domain>/<room id>; keep it the same for the deployment's whole life.
domain = "longhall.local"

# Address and port of the web client, the API and the WebSocket. Loopback by default:
# set "0.0.0.0:8080" to serve other machines.
listen = "127.0.0.1:8080"

# Login of the administrator created on first start. Its one-time password is printed
# once, or taken from the LONGHALL_ADMIN_PASSWORD environment variable.
admin_login = "admin@longhall.local"

# Log format: "text" or "json". Message bodies are never logged at info level.
log_format = "text"

# Log filter, e.g. "info" or "longhall=debug,info".
log_level = "info"

# Browser pages that may open the WebSocket (/api/v1/ws) besides the server's own origin
# (an Origin whose host and port are the request's Host). Clients that are not browsers
# send no Origin and are always allowed. Write whole origins, e.g.
# ["https://chat.example.org", "http://localhost:3000"]; "*" allows every origin. In the
# environment, separate them by commas. Others are refused with origin_not_allowed (403).
allowed_origins = []

# IP addresses of reverse proxies in front of this server, e.g. ["127.0.0.1"]. From these
# (and only these) the client's address is taken from X-Forwarded-For, so per-address
# sign-in limits apply to each client rather than to the proxy. In the environment,
# separate them by commas.
trusted_proxies = []

# A pool of servers on PostgreSQL (docs/operations.md, "A pool of servers"). This
# server's id in the pool, unique among its servers: letters, digits, '.', '-', '_', ':'.
# Empty: one is generated at first start and kept in data_dir (file server-id).
server_id = ""

# Where the other servers of the pool and administrators reach this server's API, e.g.
# "http://chat1.example.org:8080". Empty: "http://" and the listen address.
advertise_url = ""

# The pool's backup database: a streaming standby of postgres_url in another site, used
# by every server while the pool state is failed_over (after it was promoted). Empty:
# this server can't fail over. Give a password in the environment, not here.
postgres_backup_url = ""
"#;

/// Flags given on the command line (only those set override).
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
}

/// A value from the environment: a string, or a comma-separated list.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum EnvValue {
    One(String),
    Many(Vec<String>),
}

/// The `LONGHALL_<KEY>` variables that are set, as the strings they are. (figment's `Env`
/// provider would parse `LONGHALL_DATA_DIR=2024` as a number and then refuse it as a path.)
fn from_env() -> BTreeMap<&'static str, EnvValue> {
    KEYS.iter()
        .filter_map(|&key| {
            let raw = std::env::var(format!("LONGHALL_{}", key.to_ascii_uppercase())).ok()?;
            let value = if LIST_KEYS.contains(&key) {
                EnvValue::Many(raw.split(',').map(str::trim).filter(|e| !e.is_empty()).map(String::from).collect())
            } else {
                EnvValue::One(raw)
            };
            Some((key, value))
        })
        .collect()
}

impl Config {
    pub fn load(file: Option<&Path>, overrides: Overrides) -> anyhow::Result<Config> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(f) = file {
            if !f.exists() {
                anyhow::bail!("the configuration file {} does not exist", f.display());
            }
            fig = fig.merge(Toml::file(f));
        }
        let config: Config = fig
            .merge(Serialized::defaults(from_env()))
            .merge(Serialized::defaults(overrides))
            .extract()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&config.log_level) {
            anyhow::bail!(
                "invalid configuration: log_level {:?} is not a log filter ({e}); try \"info\"",
                config.log_level
            );
        }
        if !["text", "json"].contains(&config.log_format.as_str()) {
            anyhow::bail!(
                "invalid configuration: log_format must be \"text\" or \"json\", not {:?}",
                config.log_format
            );
        }
        if let Some(bad) = config.allowed_origins.iter().find(|o| !longhall_server::headers::is_origin_entry(o)) {
            anyhow::bail!(
                "invalid configuration: allowed_origins entry {bad:?} is not an origin; write \
                 scheme://host[:port] (http or https, no path), e.g. \"https://chat.example.org\", or \"*\""
            );
        }
        if config.store == StoreBackend::Postgres && config.postgres_url.trim().is_empty() {
            anyhow::bail!(
                "invalid configuration: store = \"postgres\" needs postgres_url, the database to use, e.g. \
                 \"postgres://longhall@127.0.0.1/longhall\""
            );
        }
        if config.store == StoreBackend::Postgres
            && config.bus == BusBackend::Nats
            && !config.nats_url.trim().starts_with("nats://")
        {
            anyhow::bail!(
                "invalid configuration: bus = \"nats\" needs nats_url, the NATS server, e.g. \"nats://127.0.0.1:4222\" \
                 (not {:?})",
                config.nats_url
            );
        }
        if !is_domain(&config.domain) {
            anyhow::bail!(
                "invalid configuration: domain {:?} is not a domain name; write lower-case labels \
                 separated by dots, e.g. \"example.org\"",
                config.domain
            );
        }
        if let Some(bad) = config.trusted_proxies.iter().find(|p| p.parse::<std::net::IpAddr>().is_err()) {
            anyhow::bail!(
                "invalid configuration: trusted_proxies entry {bad:?} is not an IP address; write e.g. \"127.0.0.1\" or \"::1\""
            );
        }
        if !config.server_id.is_empty() && !longhall_core::service::valid_server_id(&config.server_id) {
            anyhow::bail!(
                "invalid configuration: server_id {:?} is not a server id; write 1–{} letters, digits, '.', '-', '_' or ':', e.g. \"chat1\"",
                config.server_id,
                longhall_core::service::MAX_SERVER_ID
            );
        }
        let advertised = &config.advertise_url;
        if !(advertised.is_empty() || advertised.starts_with("http://") || advertised.starts_with("https://")) {
            anyhow::bail!(
                "invalid configuration: advertise_url {:?} is not an http(s) URL; write e.g. \"http://chat1.example.org:8080\"",
                config.advertise_url
            );
        }
        Ok(config)
    }

    /// The trusted proxies as addresses (checked by `load`).
    pub fn trusted_proxy_addresses(&self) -> Vec<std::net::IpAddr> {
        self.trusted_proxies.iter().filter_map(|p| p.parse().ok()).collect()
    }
}

/// A domain as logins carry it: DNS labels, lower case.
fn is_domain(s: &str) -> bool {
    longhall_core::principal::valid_domain(s) && !s.bytes().any(|b| b.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_default_file_parses_to_the_defaults() {
        let parsed: Config = toml::from_str(DEFAULT_FILE).unwrap();
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn committed_example_matches_the_printed_default() {
        let example = include_str!("../../../docs/longhall.example.toml");
        assert_eq!(example, DEFAULT_FILE, "run `longhall config print-default > docs/longhall.example.toml`");
    }

    #[test]
    fn unknown_keys_are_refused_with_their_name() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(&f, "listne = \"1.2.3.4:1\"\n").unwrap();
        let err = Config::load(Some(&f), Overrides::default()).unwrap_err().to_string();
        assert!(err.contains("listne"), "{err}");
    }

    #[test]
    fn allowed_origins_must_be_origins() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(&f, "allowed_origins = [\"https://chat.example.org\", \"*\"]\n").unwrap();
        let c = Config::load(Some(&f), Overrides::default()).unwrap();
        assert_eq!(c.allowed_origins, ["https://chat.example.org", "*"]);
        std::fs::write(&f, "allowed_origins = [\"chat.example.org/app\"]\n").unwrap();
        let err = Config::load(Some(&f), Overrides::default()).unwrap_err().to_string();
        assert!(err.contains("chat.example.org/app") && err.contains("scheme://host"), "{err}");
    }

    #[test]
    fn the_store_backend_and_the_domain_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(&f, "store = \"sqlite\"\ndomain = \"chat.example.org\"\n").unwrap();
        let c = Config::load(Some(&f), Overrides::default()).unwrap();
        assert_eq!((c.store, c.domain.as_str()), (StoreBackend::Sqlite, "chat.example.org"));
        std::fs::write(&f, "store = \"postgres\"\n").unwrap();
        let err = Config::load(Some(&f), Overrides::default()).unwrap_err().to_string();
        assert!(err.contains("postgres_url"), "{err}");
        std::fs::write(&f, "store = \"postgres\"\npostgres_url = \"postgres://db.example.org/lh\"\n").unwrap();
        let c = Config::load(Some(&f), Overrides::default()).unwrap();
        assert_eq!((c.store, c.postgres_url.as_str()), (StoreBackend::Postgres, "postgres://db.example.org/lh"));
        std::fs::write(&f, "store = \"oracle\"\n").unwrap();
        let err = Config::load(Some(&f), Overrides::default()).unwrap_err().to_string();
        assert!(err.contains("oracle") && err.contains("sqlite"), "{err}");
        std::fs::write(&f, "domain = \"Example.org/x\"\n").unwrap();
        let err = Config::load(Some(&f), Overrides::default()).unwrap_err().to_string();
        assert!(err.contains("Example.org/x") && err.contains("domain"), "{err}");
    }

    #[test]
    fn flags_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(&f, "listen = \"127.0.0.1:9000\"\ndata_dir = \"/srv/lh\"\n").unwrap();
        let c = Config::load(Some(&f), Overrides { listen: Some("127.0.0.1:9001".into()), data_dir: None }).unwrap();
        assert_eq!(c.listen, "127.0.0.1:9001");
        assert_eq!(c.data_dir, PathBuf::from("/srv/lh"));
    }
}
