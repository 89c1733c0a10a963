//! The one table of error codes: HTTP status, stable code, and the default sentence.
//!
//! Every interface (HTTP, WebSocket, CLI) reports failures as `{"code", "message"}` with a code
//! from this table, so a client can branch on the code and show the message.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The body of every error answer, on HTTP and inside WebSocket `error` frames.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Stable snake_case code; see `docs/api.md` for the list.
    pub code: String,
    /// A sentence saying what was wrong and what to do.
    pub message: String,
}

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident = ($code:literal, $status:literal); )*) => {
        /// Stable error codes. The string form never changes once released.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode { $( $(#[$doc])* $variant, )* }

        impl ErrorCode {
            /// Every code, in documentation order.
            pub const ALL: &'static [ErrorCode] = &[ $( ErrorCode::$variant, )* ];

            /// The stable snake_case string.
            pub fn as_str(self) -> &'static str {
                match self { $( ErrorCode::$variant => $code, )* }
            }

            /// The HTTP status that fits.
            pub fn http_status(self) -> u16 {
                match self { $( ErrorCode::$variant => $status, )* }
            }

            /// Parses the string form back (used by the CLI and tests).
            pub fn parse(code: &str) -> Option<ErrorCode> {
                match code { $( $code => Some(ErrorCode::$variant), )* _ => None }
            }
        }
    };
}

error_codes! {
    /// The request body or frame is not valid JSON or lacks a required field.
    InvalidRequest = ("invalid_request", 400);
    /// A field has a value outside its documented range or format.
    InvalidValue = ("invalid_value", 422);
    /// A new password is too easy to guess (common, the login, blank, one repeated character).
    WeakPassword = ("weak_password", 422);
    /// A text or name is longer than its documented limit.
    TooLong = ("too_long", 422);
    /// The request body, WebSocket frame or file is larger than allowed.
    PayloadTooLarge = ("payload_too_large", 413);
    /// No or an unknown/revoked token was presented.
    Unauthenticated = ("unauthenticated", 401);
    /// Login name or password is wrong.
    InvalidCredentials = ("invalid_credentials", 401);
    /// The account is disabled by an administrator.
    AccountDisabled = ("account_disabled", 403);
    /// The user's effective policy does not enable persistent chat.
    PolicyDisabled = ("policy_disabled", 403);
    /// The caller lacks the role needed for this action.
    Forbidden = ("forbidden", 403);
    /// A browser on another origin opened the WebSocket and that origin is not configured.
    OriginNotAllowed = ("origin_not_allowed", 403);
    /// Only administrators may do this.
    AdminRequired = ("admin_required", 403);
    /// The room is Closed and the caller is not a member.
    NotMember = ("not_member", 403);
    /// The room is an auditorium and the caller is not a presenter.
    NotPresenter = ("not_presenter", 403);
    /// The caller must join the room (on this connection) first.
    NotJoined = ("not_joined", 409);
    /// The room is disabled.
    RoomDisabled = ("room_disabled", 403);
    /// The category of the room does not allow file upload.
    FileUploadDisabled = ("file_upload_disabled", 403);
    /// A principal lies outside the category's scope (the ethical wall).
    OutOfScope = ("out_of_scope", 422);
    /// A presenter must be a member of a non-Open room, and only auditoriums have presenters.
    InvalidPresenter = ("invalid_presenter", 422);
    /// The principal string names no known user, group or domain.
    UnknownPrincipal = ("unknown_principal", 422);
    /// No such room (also for secret rooms the caller cannot see).
    RoomNotFound = ("room_not_found", 404);
    /// No such category.
    CategoryNotFound = ("category_not_found", 404);
    /// No such user.
    UserNotFound = ("user_not_found", 404);
    /// No such group.
    GroupNotFound = ("group_not_found", 404);
    /// No such add-in.
    AddinNotFound = ("addin_not_found", 404);
    /// No such policy.
    PolicyNotFound = ("policy_not_found", 404);
    /// No such configuration scope.
    ConfigNotFound = ("config_not_found", 404);
    /// No such file.
    FileNotFound = ("file_not_found", 404);
    /// No such message.
    MessageNotFound = ("message_not_found", 404);
    /// No such token.
    TokenNotFound = ("token_not_found", 404);
    /// No such API route.
    RouteNotFound = ("route_not_found", 404);
    /// The HTTP method is not supported on this route.
    MethodNotAllowed = ("method_not_allowed", 405);
    /// The name is already used by another object of a kind that shares the name space.
    NameTaken = ("name_taken", 409);
    /// A category can only be removed when it holds no rooms.
    CategoryNotEmpty = ("category_not_empty", 409);
    /// The object is still in use (e.g. an add-in referenced by rooms).
    InUse = ("in_use", 409);
    /// Another server of the pool changed the same object meanwhile.
    ChangedMeanwhile = ("changed_meanwhile", 409);
    /// Compliance processing is off, or this server does not run it.
    ComplianceDisabled = ("compliance_disabled", 409);
    /// The client sends faster than allowed.
    RateLimited = ("rate_limited", 429);
    /// Every password-check slot and queue place is taken; retry after `Retry-After` seconds.
    ServerBusy = ("server_busy", 503);
    Timeout = ("timeout", 408);
    /// The connection could not keep up with its outbound queue and was closed.
    SlowConsumer = ("slow_consumer", 503);
    /// The server holds as many live connections as it allows; try later or another server.
    ServerFull = ("server_full", 503);
    /// The server is shutting down.
    ShuttingDown = ("shutting_down", 503);
    /// A background task the server needs (the poster, the compliance processor) has stopped;
    /// `/readyz` names it. Restart the server and read its log.
    NotReady = ("not_ready", 503);
    /// This server is not on the pool's active server list: it takes no new client
    /// connections (and has closed those it had); connect to another server of the pool.
    ServerNotActive = ("server_not_active", 503);
    /// The deployment is not a pool (one server on SQLite) or this server has no backup
    /// database configured (`postgres_backup_url`), so the pool operation does not apply.
    NotAPool = ("not_a_pool", 409);
    /// The database the pool state names can't be used: unreachable, or still a read-only
    /// standby (promote it first).
    PoolDatabaseUnavailable = ("pool_database_unavailable", 503);
    /// The store could not be reached or failed; nothing was acknowledged.
    StoreUnavailable = ("store_unavailable", 503);
    /// An unexpected server fault; it is logged.
    Internal = ("internal", 500);
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_documented_for_clients_with_its_status() {
        let doc = include_str!("../../../docs/api.md");
        for code in ErrorCode::ALL {
            let row = format!("| `{}` | {} |", code.as_str(), code.http_status());
            assert!(doc.contains(&row), "docs/api.md lacks the row for {code}: {row}");
        }
    }

    #[test]
    fn codes_are_unique_snake_case_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "duplicate code {s}");
            assert!(s.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{s}");
            assert_eq!(ErrorCode::parse(s), Some(*code));
            assert!((400..600).contains(&code.http_status()));
        }
    }
}
