//! Database URLs: which engine, where a SQLite file lives, and the redacted form that is the
//! only form ever written into a message or a log line.

use std::path::{Path, PathBuf};

use crate::{Engine, Error, Result};

/// What `new` connects to, worked out from `Config::url` and `Config::data_dir`.
#[derive(Clone)]
pub(crate) struct Target {
    pub(crate) engine: Engine,
    /// The URL handed to sqlx. Holds the password: never log or display it.
    pub(crate) connect_url: String,
    /// The URL with its password replaced by `***`.
    pub(crate) redacted: String,
    pub(crate) secrets: Secrets,
    /// SQLite: the database file (`None` for `:memory:`).
    pub(crate) sqlite_file: Option<PathBuf>,
}

impl Target {
    pub(crate) fn in_memory(&self) -> bool {
        self.engine == Engine::Sqlite && self.sqlite_file.is_none()
    }
}

/// Strings that must not appear in messages (the password, raw and percent-decoded).
#[derive(Clone, Default)]
pub(crate) struct Secrets(Vec<String>);

impl Secrets {
    /// `text` with every secret replaced by `***`.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.0 {
            out = out.replace(secret.as_str(), "***");
        }
        out
    }
}

/// Query parameters that carry secrets in PostgreSQL and MySQL URLs.
const SECRET_PARAMS: [&str; 3] = ["password", "sslpassword", "pass"];

/// `url` with its password (user-info and `password=` parameters) replaced by `***`. Works
/// on URLs that do not parse, so that even an error about a malformed URL leaks nothing.
///
/// ```
/// assert_eq!(keel_db::redact_url("postgres://keel:s3cret@db:5432/keel?sslmode=require"),
///            "postgres://keel:***@db:5432/keel?sslmode=require");
/// assert_eq!(keel_db::redact_url("mysql://u@h/d?password=s3cret"), "mysql://u@h/d?password=***");
/// ```
pub fn redact_url(url: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (url, None),
    };
    let mut out = match head.find("://") {
        Some(i) => {
            let rest = &head[i + 3..];
            let authority_end = rest.find('/').unwrap_or(rest.len());
            let authority = &rest[..authority_end];
            match authority.rfind('@') {
                Some(at) => {
                    let userinfo = &authority[..at];
                    let user = match userinfo.split_once(':') {
                        Some((user, _)) => format!("{user}:***"),
                        None => userinfo.to_owned(),
                    };
                    format!("{}{user}{}", &head[..i + 3], &rest[at..])
                }
                None => head.to_owned(),
            }
        }
        None => head.to_owned(),
    };
    if let Some(query) = query {
        out.push('?');
        let params: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if SECRET_PARAMS.contains(&k.to_ascii_lowercase().as_str()) => {
                    format!("{k}=***")
                }
                _ => pair.to_owned(),
            })
            .collect();
        out.push_str(&params.join("&"));
    }
    out
}

fn secrets_of(url: &url::Url) -> Secrets {
    let mut secrets = Vec::new();
    let mut push = |s: &str| {
        // One-character "secrets" would shred every message; nobody uses such passwords.
        if s.len() >= 2 && !secrets.iter().any(|x| x == s) {
            secrets.push(s.to_owned());
        }
    };
    if let Some(password) = url.password() {
        push(password);
        if let Ok(decoded) = percent_decode(password) {
            push(&decoded);
        }
    }
    for (k, v) in url.query_pairs() {
        if SECRET_PARAMS.contains(&k.to_ascii_lowercase().as_str()) {
            push(&v);
        }
    }
    // Longest first, so a secret containing another is replaced whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    Secrets(secrets)
}

fn percent_decode(s: &str) -> std::result::Result<String, ()> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or(())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| ())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ())
}

/// The engine named by the URL's scheme, without checking anything else.
pub(crate) fn engine_of(url: &str) -> Result<Engine> {
    let scheme = url
        .split_once(':')
        .map(|(s, _)| s.to_ascii_lowercase())
        .unwrap_or_default();
    match scheme.as_str() {
        "postgres" | "postgresql" => Ok(Engine::Postgres),
        "mysql" | "mariadb" => Ok(Engine::Mysql),
        "sqlite" => Ok(Engine::Sqlite),
        _ => Err(Error::InvalidUrl {
            url: redact_url(url),
            reason: format!(
                "unsupported scheme {scheme:?}: use postgres://, mysql://, mariadb://, \
                 sqlite://<file> or sqlite::memory:"
            ),
        }),
    }
}

/// Parses `raw` (pure: touches neither the file system nor the network).
pub(crate) fn parse(raw: &str, data_dir: &Path, application_name: &str) -> Result<Target> {
    let raw = raw.trim();
    let redacted = redact_url(raw);
    let invalid = |reason: String| Error::InvalidUrl {
        url: redacted.clone(),
        reason,
    };
    if raw.is_empty() {
        return Err(Error::InvalidConfig(
            "url is empty; e.g. sqlite://keel.db or postgres://user:password@host:5432/db".into(),
        ));
    }
    let engine = engine_of(raw)?;
    if !engine.is_compiled_in() {
        return Err(Error::EngineNotCompiled {
            url: redacted,
            feature: engine.feature(),
        });
    }
    if engine == Engine::Sqlite {
        return parse_sqlite(raw, data_dir, redacted);
    }
    let mut url = url::Url::parse(raw).map_err(|e| invalid(format!("cannot parse it: {e}")))?;
    let secrets = secrets_of(&url);
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid(
            "it names no host, e.g. postgres://user:password@host:5432/db".into(),
        ));
    }
    let database = url.path().trim_start_matches('/');
    if database.is_empty() || database.contains('/') {
        return Err(invalid(
            "the path must be the database name, e.g. .../keel".into(),
        ));
    }
    if engine == Engine::Postgres
        && !application_name.is_empty()
        && !url.query_pairs().any(|(k, _)| k == "application_name")
    {
        // Shows who holds a connection in pg_stat_activity.
        url.query_pairs_mut()
            .append_pair("application_name", application_name);
    }
    Ok(Target {
        engine,
        connect_url: url.to_string(),
        redacted,
        secrets,
        sqlite_file: None,
    })
}

fn parse_sqlite(raw: &str, data_dir: &Path, redacted: String) -> Result<Target> {
    let invalid = |reason: &str| Error::InvalidUrl {
        url: redacted.clone(),
        reason: reason.to_owned(),
    };
    let rest = raw
        .strip_prefix("sqlite://")
        .or_else(|| raw.strip_prefix("sqlite:"))
        .ok_or_else(|| invalid("expected sqlite://<file> or sqlite::memory:"))?;
    if rest.contains('?') || rest.contains('#') {
        return Err(invalid(
            "SQLite URLs take no parameters here: journal, synchronous and busy timeout come \
             from Config::sqlite",
        ));
    }
    if rest == ":memory:" {
        return Ok(Target {
            engine: Engine::Sqlite,
            // One connection, kept open for the life of the pool (see connect.rs), so every
            // statement sees the same in-memory database.
            connect_url: "sqlite::memory:".into(),
            redacted,
            secrets: Secrets::default(),
            sqlite_file: None,
        });
    }
    if rest.is_empty() {
        return Err(invalid(
            "no file name: use sqlite://keel.db (relative to data_dir), sqlite:///abs/path.db or sqlite::memory:",
        ));
    }
    let path = Path::new(rest);
    let file = if path.is_absolute() {
        path.to_path_buf()
    } else {
        if data_dir.as_os_str().is_empty() {
            return Err(Error::InvalidConfig(format!(
                "data_dir is empty but the SQLite file {rest:?} is relative to it"
            )));
        }
        data_dir.join(path)
    };
    // Absolute, so that the URL sqlx parses has no host part to normalise (a relative
    // `sqlite://Data/x.db` would come back lower-cased) and the log names the real file.
    let file = std::path::absolute(&file)
        .map_err(|e| invalid(&format!("cannot resolve {}: {e}", file.display())))?;
    let Some(file_str) = file.to_str() else {
        return Err(invalid("the file path is not valid UTF-8"));
    };
    Ok(Target {
        engine: Engine::Sqlite,
        // sqlx percent-decodes the path; `mode=rwc` creates the file on first start.
        connect_url: format!("sqlite://{}?mode=rwc", encode_path(file_str)),
        redacted,
        secrets: Secrets::default(),
        sqlite_file: Some(file),
    })
}

fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        match c {
            '%' | '?' | '#' | ' ' => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_passwords_everywhere() {
        let cases = [
            (
                "postgres://keel:keel@127.0.0.1:5432/keel?sslmode=disable",
                "postgres://keel:***@127.0.0.1:5432/keel?sslmode=disable",
            ),
            ("mysql://root:p%40ss@db/app", "mysql://root:***@db/app"),
            ("postgres://user@host/db", "postgres://user@host/db"),
            (
                "postgres://host/db?user=u&password=top",
                "postgres://host/db?user=u&password=***",
            ),
            ("postgres://u:pa@ss@host/db", "postgres://u:***@host/db"),
            ("postgres://u:secret@[::1", "postgres://u:***@[::1"),
            ("not a url at all", "not a url at all"),
        ];
        for (raw, want) in cases {
            assert_eq!(redact_url(raw), want, "{raw}");
        }
    }

    #[test]
    fn secrets_are_scrubbed_raw_and_decoded() {
        let url = url::Url::parse("mysql://root:p%40ssw0rd@db/app?password=other").unwrap();
        let secrets = secrets_of(&url);
        assert_eq!(secrets.scrub("p%40ssw0rd p@ssw0rd other"), "*** *** ***");
    }

    #[cfg(feature = "sqlite")]
    #[test]
    fn sqlite_paths_resolve_against_the_data_dir() {
        let dir = Path::new("/var/lib/keel");
        let t = parse("sqlite://keel.db", dir, "keel").unwrap();
        assert_eq!(
            t.sqlite_file.as_deref(),
            Some(Path::new("/var/lib/keel/keel.db"))
        );
        assert_eq!(t.connect_url, "sqlite:///var/lib/keel/keel.db?mode=rwc");
        let t = parse("sqlite:///tmp/a b.db", dir, "keel").unwrap();
        assert_eq!(t.connect_url, "sqlite:///tmp/a%20b.db?mode=rwc");
        assert!(parse("sqlite::memory:", dir, "keel").unwrap().in_memory());
        assert!(parse("sqlite://", dir, "keel").is_err());
        assert!(parse("sqlite://x.db?mode=ro", dir, "keel").is_err());
    }

    #[test]
    fn bad_urls_are_refused_without_leaking() {
        for raw in [
            "redis://u:hunter22@h/0",
            "postgres://u:hunter22@/db",
            "postgres://u:hunter22@h:99999/db",
            "mysql://u:hunter22@h",
        ] {
            let err = parse(raw, Path::new("data"), "keel")
                .err()
                .expect(raw)
                .to_string();
            assert!(!err.contains("hunter22"), "{err}");
        }
    }
}
