//! Sign-in, tokens and who the caller is.

use base64::Engine;
use longhall_types::ErrorCode;
use longhall_types::api::{ApiTokenCreated, Me, TokenView};
use sha2::Digest;

use std::net::IpAddr;

use super::Longhall;
use super::throttle::{SignInThrottle, Source};
use crate::change::CatalogChange;
use crate::error::{CoreError, CoreResult};
use crate::live::TokenRef;
use crate::model::{TokenId, TokenKind, TokenRecord, User, UserId};

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user: User,
    /// The token the caller authenticated with (for the audit log).
    pub token: Option<TokenId>,
    /// Where the call came from (for the audit log): the client's address as the transport
    /// resolved it (a trusted proxy's `X-Forwarded-For`).
    pub source: Option<IpAddr>,
}

impl Actor {
    /// The deployment itself (first start, offline tools): an administrator with no account.
    pub fn system() -> Actor {
        Actor {
            user: User {
                id: 0,
                login: "system@longhall.invalid".into(),
                display_name: "Longhall".into(),
                email: String::new(),
                site: None,
                disabled: false,
                admin: true,
                policy: None,
            },
            token: None,
            source: None,
        }
    }

    /// An actor for `user` with no token or source (yet).
    pub fn of(user: User) -> Actor {
        Actor { user, token: None, source: None }
    }

    /// The same actor, calling from `source`.
    pub fn from_source(mut self, source: IpAddr) -> Actor {
        self.source = Some(source);
        self
    }

    pub fn id(&self) -> UserId {
        self.user.id
    }

    pub fn is_admin(&self) -> bool {
        self.user.admin
    }

    pub fn require_admin(&self) -> CoreResult<()> {
        if self.user.admin { Ok(()) } else { Err(CoreError::admin_required()) }
    }
}

pub(super) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    // The OS random source failing is unrecoverable; an all-zero token must never be issued.
    if getrandom::fill(&mut b).is_err() {
        panic!("the operating system's random source failed");
    }
    b
}

/// A new bearer token: 32 random bytes, base64url, with a recognisable prefix.
fn new_token() -> String {
    format!("lh_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>()))
}

/// A random password for a new administrator, typeable and long enough.
pub fn random_password() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<18>())
}

/// Tokens are stored as their SHA-256, so a leaked store reveals no usable token.
pub fn token_hash(token: &str) -> String {
    let digest = sha2::Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A password hash as stored: Argon2id with the crate's default (OWASP) parameters, PHC string.
fn hash_with_memory(password: &[u8], mem: &mut [argon2::Block]) -> Option<String> {
    use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
    let params = argon2::Params::DEFAULT;
    let salt = Salt::new(&random_bytes::<16>()).ok()?;
    let mut out = [0u8; argon2::Params::DEFAULT_OUTPUT_LEN];
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params.clone())
        .hash_password_into_with_memory(password, &salt, &mut out, mem)
        .ok()?;
    let hash = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(argon2::Version::V0x13.into()),
        params: ParamsString::try_from(&params).ok()?,
        salt: Some(salt),
        hash: Some(Output::new(&out).ok()?),
    };
    Some(hash.to_string())
}

/// A stored hash taken apart, so the check can run in a reused buffer.
struct StoredHash {
    argon: argon2::Argon2<'static>,
    salt: Vec<u8>,
    expected: Vec<u8>,
}

impl StoredHash {
    fn parse(hash: &str) -> Option<StoredHash> {
        use argon2::password_hash::phc::PasswordHash;
        let parsed = PasswordHash::new(hash).ok()?;
        let algorithm = argon2::Algorithm::try_from(parsed.algorithm.as_str()).ok()?;
        let version = parsed.version.map(argon2::Version::try_from).transpose().ok()?.unwrap_or_default();
        let params = argon2::Params::try_from(&parsed).ok()?;
        Some(StoredHash {
            argon: argon2::Argon2::new(algorithm, version, params),
            salt: parsed.salt?.to_vec(),
            expected: parsed.hash?.as_bytes().to_vec(),
        })
    }

    fn blocks(&self) -> usize {
        self.argon.params().block_count()
    }

    fn matches(&self, password: &[u8], mem: &mut [argon2::Block]) -> bool {
        let mut out = vec![0u8; self.expected.len()];
        if self.argon.hash_password_into_with_memory(password, &self.salt, &mut out, mem).is_err() {
            return false;
        }
        // Constant time: how much of the hash matched must not show in the timing.
        out.iter().zip(&self.expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

impl Longhall {
    /// Hashes a new password (in the bounded password-check pool).
    pub(super) async fn hash_password(&self, password: String) -> CoreResult<String> {
        let blocks = argon2::Params::DEFAULT.block_count();
        self.password_gate
            .run(blocks, move |mem| hash_with_memory(password.as_bytes(), mem))
            .await?
            .ok_or_else(|| CoreError::new(ErrorCode::Internal, "The password could not be hashed; try again."))
    }

    /// Checks a password against a stored hash (in the bounded password-check pool). A hash
    /// that can't be read matches nothing, after the same work as a real check.
    async fn verify_password(&self, password: String, hash: &str) -> CoreResult<bool> {
        let stored = StoredHash::parse(hash).or_else(|| StoredHash::parse(DUMMY_HASH));
        let Some(stored) = stored else { return Ok(false) };
        self.password_gate.run(stored.blocks(), move |mem| stored.matches(password.as_bytes(), mem)).await
    }
}

/// Passwords too common to allow, lower case (the file is `common_passwords.txt`).
const COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

/// The password policy: a length within bounds, and not one that is easy to guess for the
/// account `login` (blank, one repeated character, the login or its local part, a common one).
pub(super) fn check_password(password: &str, login: &str) -> CoreResult<()> {
    use longhall_types::limits::{MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};
    let n = password.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&n) {
        return Err(CoreError::invalid(format!(
            "A password needs {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters."
        )));
    }
    let weak = |why: &str| {
        Err(CoreError::new(
            ErrorCode::WeakPassword,
            format!(
                "This password is {why}, so it is easy to guess; choose another, for example a few unrelated words."
            ),
        ))
    };
    let lower = password.trim().to_lowercase();
    let mut chars = lower.chars();
    if lower.is_empty() {
        return weak("blank");
    }
    if let Some(first) = chars.next()
        && chars.all(|c| c == first)
    {
        return weak("one character repeated");
    }
    let login = login.trim().to_lowercase();
    let local = login.split('@').next().unwrap_or(&login);
    if lower == login || lower == local {
        return weak("the login");
    }
    if COMMON_PASSWORDS.lines().any(|l| !l.starts_with('#') && l == lower) {
        return weak("one of the most common passwords");
    }
    Ok(())
}

fn bad_credentials() -> CoreError {
    CoreError::new(ErrorCode::InvalidCredentials, "The login or the password is wrong; check both and try again.")
}

impl Longhall {
    /// Checks login and password and issues a session token. Users whose effective policy is
    /// off are refused (administrators may still sign in to administer). `source` is the
    /// client's address, for the failed-sign-in limits (docs/api.md §2).
    pub async fn sign_in(&self, login: &str, password: &str, source: IpAddr) -> CoreResult<(String, Me)> {
        let source = Source::of(source);
        let Some(key) = SignInThrottle::key(login) else {
            // Longer than any login can be: no such account, and not worth a password check.
            self.sign_in_throttle.failed_without_login(source, self.now())?;
            return Err(bad_credentials());
        };
        let attempt = self.sign_in_throttle.begin(&key, source, self.now())?;
        let user = self.cat().user_by_login(login).cloned();
        let checked = match &user {
            // Same work and answer as a wrong password, so logins can't be probed by timing.
            None => self.verify_password(password.to_owned(), DUMMY_HASH).await.map(|_| false),
            Some(user) => match self.store.password_hash(user.id).await {
                Ok(hash) => {
                    let hash = hash.filter(|h| !h.is_empty()).unwrap_or_else(|| DUMMY_HASH.to_owned());
                    self.verify_password(password.to_owned(), &hash).await
                }
                Err(e) => Err(e.into()),
            },
        };
        let user = match (checked, user) {
            (Ok(true), Some(user)) => {
                self.sign_in_throttle.succeeded(attempt, self.now());
                user
            }
            (Ok(_), _) => {
                self.sign_in_throttle.failed(attempt);
                return Err(bad_credentials());
            }
            (Err(e), _) => {
                // Not the caller's fault (busy, store down): release without counting a failure.
                self.sign_in_throttle.abandoned(attempt);
                return Err(e);
            }
        };
        self.check_usable(&user)?;
        let token = new_token();
        let now = self.now();
        let record = TokenRecord {
            id: 0,
            user: user.id,
            kind: TokenKind::Session,
            label: "sign-in".into(),
            hash: token_hash(&token),
            created: now,
            expires: Some(now + self.settings.session_ttl_ms),
        };
        self.commit_unaudited(CatalogChange::InsertToken { token: record }).await?;
        let me = self.me(&Actor::of(user));
        Ok((token, me))
    }

    /// Sign-in also needs the policy on (administrators may sign in to administer).
    fn check_usable(&self, user: &User) -> CoreResult<()> {
        check_enabled(user)?;
        if !user.admin && !self.cat().effective_policy(user).enable_persistent_chat {
            return Err(policy_off());
        }
        Ok(())
    }

    /// Resolves a bearer token to its user; refuses revoked, expired and disabled ones.
    pub async fn authenticate(&self, token: &str) -> CoreResult<Actor> {
        self.authenticate_token(token).await.map(|(actor, _)| actor)
    }

    /// As `authenticate`, with the token's id and expiry (a live connection ends with them).
    pub async fn authenticate_token(&self, token: &str) -> CoreResult<(Actor, TokenRef)> {
        let unauthenticated = || {
            CoreError::new(
                ErrorCode::Unauthenticated,
                "The token is missing, expired or revoked; sign in again to get a new one.",
            )
        };
        if token.is_empty() || token.len() > 200 {
            return Err(unauthenticated());
        }
        let record = self.store.find_token(&token_hash(token)).await?.ok_or_else(unauthenticated)?;
        if record.expires.is_some_and(|e| e <= self.now()) {
            return Err(unauthenticated());
        }
        let user = self.cat().users.get(&record.user).cloned().ok_or_else(unauthenticated)?;
        check_enabled(&user)?;
        Ok((Actor { user, token: Some(record.id), source: None }, TokenRef { id: record.id, expires: record.expires }))
    }

    /// Ends at once every live connection opened with this token.
    fn end_sessions_of(&self, user: UserId, token: TokenId, why: &str) {
        for conn in self.hub.connections_of_token(user, token) {
            conn.close(CoreError::new(ErrorCode::Unauthenticated, why));
        }
    }

    /// Ends the live connections whose session token has expired (run every second).
    pub(super) fn end_expired_sessions(&self) {
        for conn in self.hub.expired_connections(self.now()) {
            conn.close(CoreError::new(
                ErrorCode::Unauthenticated,
                "Your session has expired; sign in again and reconnect.",
            ));
        }
    }

    /// Revokes every session token of the user except `keep`, ending their connections
    /// (after a password change or reset: whoever knew the old password is signed out).
    pub(super) async fn revoke_sessions(&self, user: UserId, keep: Option<TokenId>) -> CoreResult<()> {
        for t in self.store.list_tokens(Some(user)).await? {
            if t.kind == TokenKind::Session && Some(t.id) != keep {
                self.commit_unaudited(CatalogChange::DeleteToken { id: t.id }).await?;
                self.end_sessions_of(
                    user,
                    t.id,
                    "The password was changed and this session was signed out; sign in again with the new password.",
                );
            }
        }
        Ok(())
    }

    /// The caller as the catalog knows them now (a long-lived connection re-reads it per
    /// request, so a revoked administrator or a disabled account takes effect at once).
    pub fn current_actor(&self, user: UserId) -> CoreResult<Actor> {
        let user = self
            .cat()
            .users
            .get(&user)
            .cloned()
            .ok_or_else(|| CoreError::new(ErrorCode::Unauthenticated, "This account no longer exists."))?;
        check_enabled(&user)?;
        Ok(Actor::of(user))
    }

    /// Changes the caller's own password after checking the current one. Every other session
    /// token of the caller is revoked (`keep` is the one making the change); API tokens stay.
    pub async fn change_password(
        &self,
        actor: &Actor,
        keep: Option<TokenId>,
        current: &str,
        new: &str,
    ) -> CoreResult<()> {
        check_password(new, &actor.user.login)?;
        let hash = self.store.password_hash(actor.id()).await?.unwrap_or_else(|| DUMMY_HASH.to_owned());
        if !self.verify_password(current.to_owned(), &hash).await? {
            return Err(CoreError::new(ErrorCode::InvalidCredentials, "The current password is wrong; try again."));
        }
        let hash = self.hash_password(new.to_owned()).await?;
        {
            let _guard = self.write_lock.lock().await;
            let user = self.current_actor(actor.id())?.user;
            self.commit_change(actor, CatalogChange::UpdateUser { user, password_hash: Some(hash) }).await?;
        }
        self.revoke_sessions(actor.id(), keep).await
    }

    /// Revokes the token that made this call.
    pub async fn sign_out(&self, token: &str) -> CoreResult<()> {
        if let Some(record) = self.store.find_token(&token_hash(token)).await? {
            self.commit_unaudited(CatalogChange::DeleteToken { id: record.id }).await?;
            self.end_sessions_of(record.user, record.id, "You signed out with this token; sign in again to reconnect.");
        }
        Ok(())
    }

    pub fn me(&self, actor: &Actor) -> Me {
        let cat = self.cat();
        Me {
            user: super::views::user_view(&actor.user),
            policy: cat.effective_policy(&actor.user),
            config: cat.effective_config_view(actor.user.site.as_deref()),
        }
    }

    /// Chat needs the effective policy on, for administrators too.
    pub(super) fn require_chat(&self, actor: &Actor) -> CoreResult<()> {
        if self.cat().effective_policy(&actor.user).enable_persistent_chat { Ok(()) } else { Err(policy_off()) }
    }

    /// A long-lived token for a bot (administrators only); shown once.
    pub async fn create_api_token(
        &self,
        actor: &Actor,
        login: Option<&str>,
        label: &str,
    ) -> CoreResult<ApiTokenCreated> {
        actor.require_admin()?;
        crate::rules::check_name("token label", label)?;
        let user = match login {
            Some(l) => self
                .cat()
                .user_by_login(l)
                .cloned()
                .ok_or_else(|| super::not_found(ErrorCode::UserNotFound, "such user"))?,
            None => actor.user.clone(),
        };
        let token = new_token();
        let record = TokenRecord {
            id: 0,
            user: user.id,
            kind: TokenKind::Api,
            label: label.to_owned(),
            hash: token_hash(&token),
            created: self.now(),
            expires: None,
        };
        let id = self.commit_change(actor, CatalogChange::InsertToken { token: record }).await?.id;
        Ok(ApiTokenCreated { id, token })
    }

    /// Tokens: administrators see everyone's, others their own.
    pub async fn list_tokens(&self, actor: &Actor) -> CoreResult<Vec<TokenView>> {
        let filter = if actor.is_admin() { None } else { Some(actor.id()) };
        let tokens = self.store.list_tokens(filter).await?;
        let cat = self.cat();
        Ok(tokens
            .into_iter()
            .map(|t| TokenView {
                id: t.id,
                login: cat.users.get(&t.user).map(|u| u.login.clone()).unwrap_or_default(),
                kind: t.kind.as_str().to_owned(),
                label: t.label,
                created: t.created,
            })
            .collect())
    }

    /// Revokes a token: one's own, or anyone's for an administrator.
    pub async fn revoke_token(&self, actor: &Actor, id: TokenId) -> CoreResult<()> {
        let mine = self.store.list_tokens(if actor.is_admin() { None } else { Some(actor.id()) }).await?;
        let Some(user) = mine.iter().find(|t| t.id == id).map(|t| t.user) else {
            return Err(super::not_found(ErrorCode::TokenNotFound, "such token"));
        };
        if !self.commit_change(actor, CatalogChange::DeleteToken { id }).await?.found {
            return Err(super::not_found(ErrorCode::TokenNotFound, "such token"));
        }
        self.end_sessions_of(user, id, "The token of this connection was revoked; sign in again or use another token.");
        Ok(())
    }
}

pub(super) fn check_enabled(user: &User) -> CoreResult<()> {
    if user.disabled {
        return Err(CoreError::new(
            ErrorCode::AccountDisabled,
            "This account is disabled; ask an administrator to enable it.",
        ));
    }
    Ok(())
}

fn policy_off() -> CoreError {
    CoreError::new(
        ErrorCode::PolicyDisabled,
        "Persistent chat is not enabled for your account; ask an administrator to grant a policy that enables it.",
    )
}

/// A valid Argon2id hash of a random string, verified against when the login is unknown.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$J5Ow1z2cJ2m+1Ww0k5n7vB0c2iGeEsoY8T1tP3Qp8w4";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_policy_refuses_the_obvious_ones() {
        let login = "alice.smith@example.org";
        for (password, ok) in [
            ("password", false),
            ("PassWord1", false),
            ("        ", false),
            ("zzzzzzzzzz", false),
            ("alice.smith@example.org", false),
            ("Alice.Smith", false),
            ("12345678", false),
            ("correct-horse-battery", true),
            ("a good password", true),
        ] {
            let got = check_password(password, login);
            assert_eq!(got.is_ok(), ok, "{password:?}: {got:?}");
            if let Err(e) = got {
                assert_eq!(e.code, ErrorCode::WeakPassword, "{password:?}");
            }
        }
        assert_eq!(check_password("short", login).unwrap_err().code, ErrorCode::InvalidValue);
        assert!(COMMON_PASSWORDS.lines().filter(|l| !l.starts_with('#')).count() >= 300);
    }
}
