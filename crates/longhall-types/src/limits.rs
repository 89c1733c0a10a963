//! Documented limits. Each one is enforced where input enters and reported with a stable code.

/// Longest category, room or group name, in characters.
pub const MAX_NAME_CHARS: usize = 256;
/// Longest category or room description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 256;
/// Longest add-in name, in characters.
pub const MAX_ADDIN_NAME_CHARS: usize = 50;
/// Longest add-in URL, in characters.
pub const MAX_ADDIN_URL_CHARS: usize = 255;
/// Longest login, display name, email or site label, in characters.
pub const MAX_PRINCIPAL_CHARS: usize = 256;
/// Longest message text, in bytes of UTF-8 (a story body may use all of it).
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;
/// Longest story title, in characters.
pub const MAX_STORY_TITLE_CHARS: usize = 256;
/// Largest JSON request body over HTTP, in bytes.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// Largest WebSocket frame a client may send, in bytes.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// Most entries in one principal list edit, and most rooms in one batch join.
pub const MAX_LIST_ITEMS: usize = 1000;
/// Most messages in one history page or backchat.
pub const MAX_HISTORY_PAGE: u32 = 500;
/// Most results of one content search (the "cap").
pub const MAX_SEARCH_RESULTS: u32 = 200;
/// Longest text of a content search or of a message removal's keywords, in bytes of UTF-8.
pub const MAX_SEARCH_TEXT_BYTES: usize = 1024;
/// Most results of one directory or admin list page.
pub const MAX_PAGE: u32 = 500;
/// Messages a connection may have queued for sending before it is closed as a slow consumer.
pub const OUTBOUND_QUEUE_FRAMES: usize = 4096;
/// Bytes a connection may have queued for sending (answers, live frames, frames held while a
/// join is prepared) before it is closed as a slow consumer. One larger answer still goes out
/// when nothing else is queued.
pub const OUTBOUND_QUEUE_BYTES: usize = 16 * 1024 * 1024;
/// Password length bounds, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Password length bounds, in characters.
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// Message text (and author logins) of a BACKCHAT compliance event's recorded history: the
/// messages returned are copied in order until this many bytes; the rest are only counted.
pub const MAX_BACKCHAT_RECORD_BYTES: usize = 64 * 1024;
