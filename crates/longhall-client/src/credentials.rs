//! Where command-line tools find the server's address and the token: explicit values, then
//! the environment (`LONGHALL_URL`, `LONGHALL_TOKEN`), then a credentials file
//! (`$XDG_CONFIG_HOME/longhall/credentials`, else `~/.config/longhall/credentials`): JSON
//! `{"url": "...", "token": "..."}`, readable by its owner only (mode 0600).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Client, ClientError};

/// The environment variable naming the server's address.
pub const URL_VAR: &str = "LONGHALL_URL";
/// The environment variable holding the bearer token.
pub const TOKEN_VAR: &str = "LONGHALL_TOKEN";
/// The address used when none is given anywhere.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";

/// A server's address and the token to use there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("could not {action} the credentials file {}: {source}", path.display())]
    Io { action: &'static str, path: PathBuf, source: std::io::Error },
    #[error("the credentials file {} is not JSON {{\"url\": \"...\", \"token\": \"...\"}}: {reason}; fix or remove it", path.display())]
    Format { path: PathBuf, reason: String },
    #[error("the credentials file {} can be read by other users (mode {mode:o}); run `chmod 600 {}`", path.display(), path.display())]
    TooOpen { path: PathBuf, mode: u32 },
}

impl Credentials {
    /// A client of this server with this token.
    pub fn client(&self) -> Result<Client, ClientError> {
        let builder = Client::builder(&self.url);
        match &self.token {
            Some(t) => builder.token(t.clone()).build(),
            None => builder.build(),
        }
    }
}

/// The credentials file's usual place, from `XDG_CONFIG_HOME` or `HOME`.
pub fn default_path() -> Option<PathBuf> {
    default_path_from(|name| std::env::var_os(name).map(PathBuf::from))
}

fn default_path_from(var: impl Fn(&str) -> Option<PathBuf>) -> Option<PathBuf> {
    let config = match var("XDG_CONFIG_HOME").filter(|p| p.is_absolute()) {
        Some(dir) => dir,
        None => var("HOME").filter(|p| p.is_absolute())?.join(".config"),
    };
    Some(config.join("longhall").join("credentials"))
}

/// Reads a credentials file; `None` if there is none. A file other users can read is refused
/// (the token in it is as good as a password).
pub fn read(path: &Path) -> Result<Option<Credentials>, CredentialsError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(CredentialsError::Io { action: "read", path: path.to_owned(), source }),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(|source| CredentialsError::Io {
            action: "read",
            path: path.to_owned(),
            source,
        })?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(CredentialsError::TooOpen { path: path.to_owned(), mode });
        }
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| CredentialsError::Format { path: path.to_owned(), reason: e.to_string() })
}

/// Writes a credentials file readable by its owner only (its folder is created, mode 0700),
/// replacing any earlier one in one step.
pub fn write(path: &Path, credentials: &Credentials) -> Result<(), CredentialsError> {
    let io = |action| move |source| CredentialsError::Io { action, path: path.to_owned(), source };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(io("create the folder of"))?;
    }
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp).map_err(io("write"))?;
    // A leftover temporary file may have had another mode: make sure of it.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(io("write"))?;
    }
    let json = serde_json::to_vec_pretty(credentials).unwrap_or_default();
    file.write_all(&json).and_then(|()| file.sync_all()).map_err(io("write"))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(io("write"))
}

/// The credentials to use: each of url and token from the explicit value if given, else
/// the environment, else the file; the url defaults to [`DEFAULT_URL`].
pub fn resolve(url: Option<&str>, token: Option<&str>, file: Option<&Path>) -> Result<Credentials, CredentialsError> {
    resolve_with(url, token, |name| std::env::var(name).ok(), file)
}

/// [`resolve`] with the environment given as a lookup (tests, or a caller with its own).
pub fn resolve_with(
    url: Option<&str>,
    token: Option<&str>,
    env: impl Fn(&str) -> Option<String>,
    file: Option<&Path>,
) -> Result<Credentials, CredentialsError> {
    let given = |v: Option<&str>| v.filter(|s| !s.is_empty()).map(str::to_owned);
    let from_env = |name| env(name).filter(|s: &String| !s.is_empty());
    let mut url = given(url).or_else(|| from_env(URL_VAR));
    let mut token = given(token).or_else(|| from_env(TOKEN_VAR));
    if (url.is_none() || token.is_none())
        && let Some(saved) = match file {
            Some(path) => read(path)?,
            None => None,
        }
    {
        // The file's token belongs to the file's server: use it only for that server.
        if url.is_none() || url.as_deref() == Some(saved.url.as_str()) {
            token = token.or(saved.token);
        }
        url = url.or(Some(saved.url));
    }
    Ok(Credentials { url: url.unwrap_or_else(|| DEFAULT_URL.to_owned()), token })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn the_file_is_written_for_its_owner_only_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config").join("longhall").join("credentials");
        let saved = Credentials { url: "http://chat.example:8080".into(), token: Some("secret".into()) };
        write(&path, &saved).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
            assert_eq!(std::fs::metadata(path.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);
        }
        assert_eq!(read(&path).unwrap(), Some(saved));
        assert_eq!(read(&dir.path().join("none")).unwrap(), None, "no file is not an error");
    }

    #[cfg(unix)]
    #[test]
    fn a_file_others_can_read_is_refused_with_the_fix() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials");
        write(&path, &Credentials { url: "http://a".into(), token: Some("t".into()) }).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = read(&path).unwrap_err();
        assert!(matches!(err, CredentialsError::TooOpen { mode: 0o644, .. }), "{err:?}");
        assert!(err.to_string().contains("chmod 600"), "{err}");
        // Writing again repairs it.
        write(&path, &Credentials { url: "http://a".into(), token: None }).unwrap();
        assert_eq!(read(&path).unwrap().unwrap().token, None);
    }

    #[test]
    fn explicit_values_beat_the_environment_which_beats_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials");
        write(&path, &Credentials { url: "http://file:1".into(), token: Some("file-token".into()) }).unwrap();

        let none = env_of(&[]);
        let c = resolve_with(None, None, &none, Some(&path)).unwrap();
        assert_eq!(c, Credentials { url: "http://file:1".into(), token: Some("file-token".into()) });

        let env = env_of(&[(URL_VAR, "http://env:2"), (TOKEN_VAR, "env-token")]);
        let c = resolve_with(None, None, &env, Some(&path)).unwrap();
        assert_eq!(c, Credentials { url: "http://env:2".into(), token: Some("env-token".into()) });

        let c = resolve_with(Some("http://flag:3"), Some("flag-token"), &env, Some(&path)).unwrap();
        assert_eq!(c, Credentials { url: "http://flag:3".into(), token: Some("flag-token".into()) });

        // Another server than the file's: the file's token is not sent to it.
        let c = resolve_with(Some("http://other:4"), None, &none, Some(&path)).unwrap();
        assert_eq!(c, Credentials { url: "http://other:4".into(), token: None });

        // Nothing anywhere: the local default, no token.
        let c = resolve_with(None, None, &none, None).unwrap();
        assert_eq!(c, Credentials { url: DEFAULT_URL.into(), token: None });
    }

    #[test]
    fn a_broken_file_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials");
        write(&path, &Credentials { url: "http://a".into(), token: None }).unwrap();
        std::fs::write(&path, b"url = 'toml?'").unwrap();
        let err = read(&path).unwrap_err();
        assert!(matches!(err, CredentialsError::Format { .. }), "{err:?}");
    }

    #[test]
    fn the_default_place_follows_xdg_then_home() {
        let p = default_path_from(|n| (n == "XDG_CONFIG_HOME").then(|| PathBuf::from("/x/cfg")));
        assert_eq!(p, Some(PathBuf::from("/x/cfg/longhall/credentials")));
        let p = default_path_from(|n| (n == "HOME").then(|| PathBuf::from("/home/a")));
        assert_eq!(p, Some(PathBuf::from("/home/a/.config/longhall/credentials")));
        assert_eq!(default_path_from(|_| None), None);
    }
}
