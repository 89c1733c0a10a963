//! The permission rules of product.md §2, as pure functions over the catalog's data.
//! Every transport reaches them through the services; nothing else decides access.

use longhall_types::api::{Privacy, RoomInvitations, RoomRoles, RoomType};
use longhall_types::limits;

use crate::error::{CoreError, CoreResult};
use crate::model::{Category, Room};
use crate::principal::{Affiliations, Principal};
use longhall_types::ErrorCode;

/// A principal is in scope of a category when it matches the allowed list and does not match
/// the denied list. `contains` is everything the principal "is" (see `Catalog::containers`).
pub fn in_scope(category: &Category, contains: &[Principal]) -> bool {
    let hit = |list: &[Principal]| list.iter().any(|p| contains.contains(p));
    hit(&category.allowed) && !hit(&category.denied)
}

/// A user's standing in one room, computed once and asked several questions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    pub admin: bool,
    /// In scope of the room's category (deny wins).
    pub in_scope: bool,
    pub member: bool,
    pub manager: bool,
    pub presenter: bool,
    pub privacy: Privacy,
    pub room_type: RoomType,
    pub disabled: bool,
}

impl Access {
    pub fn of(category: &Category, room: &Room, aff: &Affiliations, admin: bool) -> Access {
        let user_scope = aff.matches_any(&category.allowed) && !aff.matches_any(&category.denied);
        Access {
            admin,
            in_scope: user_scope,
            member: aff.matches_any(&room.members),
            manager: aff.matches_any(&room.managers),
            presenter: aff.matches_any(&room.presenters),
            privacy: room.privacy,
            room_type: room.room_type,
            disabled: room.disabled,
        }
    }

    /// Shown in the room directory. Secret rooms only to members; administrators see all.
    pub fn can_find(&self) -> bool {
        if self.admin {
            return true;
        }
        !self.disabled
            && self.in_scope
            && match self.privacy {
                Privacy::Open | Privacy::Closed => true,
                Privacy::Secret => self.member,
            }
    }

    /// May see the room's details: whoever finds it, and its managers (even when disabled).
    pub fn can_view(&self) -> bool {
        self.can_find() || self.can_manage()
    }

    /// May join and read. Open rooms need scope only; Closed and Secret need membership.
    pub fn can_read(&self) -> bool {
        !self.disabled
            && self.in_scope
            && match self.privacy {
                Privacy::Open => true,
                Privacy::Closed | Privacy::Secret => self.member,
            }
    }

    /// May post: a reader, and in an auditorium also a presenter.
    pub fn can_post(&self) -> bool {
        self.can_read() && (self.room_type == RoomType::Normal || self.presenter)
    }

    /// May change the room's settings and lists (not its category, not re-enable it).
    pub fn can_manage(&self) -> bool {
        self.admin || (self.manager && self.in_scope)
    }

    /// The reason `can_read` is false, as the error a user should see. A room the user can't
    /// find answers exactly like a missing one.
    pub fn read_denied(&self, room_id: i64) -> CoreError {
        if !self.can_view() {
            return CoreError::room_not_found(room_id);
        }
        if self.disabled {
            return CoreError::new(
                ErrorCode::RoomDisabled,
                "This room is disabled; an administrator can enable it again.",
            );
        }
        CoreError::new(ErrorCode::NotMember, "Only members may join this room; ask one of its managers to add you.")
    }

    /// The reason `can_post` is false.
    pub fn post_denied(&self, room_id: i64) -> CoreError {
        if !self.can_read() {
            return self.read_denied(room_id);
        }
        CoreError::new(
            ErrorCode::NotPresenter,
            "Only presenters may post in this auditorium room; everyone else reads.",
        )
    }

    pub fn roles(&self) -> RoomRoles {
        RoomRoles {
            member: self.member,
            manager: self.manager,
            presenter: self.presenter,
            can_read: self.can_read(),
            can_post: self.can_post(),
            can_manage: self.can_manage(),
        }
    }
}

/// Invitations are sent when the category has them on and the room inherits.
pub fn invitations_active(category: &Category, room: &Room) -> bool {
    category.invitations && room.invitations == RoomInvitations::Inherit
}

// ---- validation of names and values

/// U+0000 is refused in every text Longhall keeps: PostgreSQL can store it in no text or JSON
/// value, so one such post would fail the whole batch of posts committed with it.
fn check_no_nul(what: &str, value: &str) -> CoreResult<()> {
    if value.contains('\0') {
        return Err(CoreError::invalid(format!("The {what} must not contain the character U+0000; leave it out.")));
    }
    Ok(())
}

fn check_text(what: &str, value: &str, max_chars: usize, allow_empty: bool) -> CoreResult<()> {
    check_no_nul(what, value)?;
    if !allow_empty && value.trim().is_empty() {
        return Err(CoreError::invalid(format!("The {what} must not be empty.")));
    }
    let n = value.chars().count();
    if n > max_chars {
        return Err(CoreError::new(
            ErrorCode::TooLong,
            format!("The {what} has {n} characters; the limit is {max_chars}. Shorten it."),
        ));
    }
    if value.chars().any(|c| c.is_control() && c != '\n' && c != '\t') && !allow_empty {
        return Err(CoreError::invalid(format!("The {what} must not contain control characters.")));
    }
    Ok(())
}

pub fn check_name(what: &str, name: &str) -> CoreResult<()> {
    check_text(what, name, limits::MAX_NAME_CHARS, false)?;
    if name.trim() != name {
        return Err(CoreError::invalid(format!("The {what} must not start or end with spaces.")));
    }
    Ok(())
}

pub fn check_description(description: &str) -> CoreResult<()> {
    check_text("description", description, limits::MAX_DESCRIPTION_CHARS, true)
}

pub fn check_addin(name: &str, url: &str) -> CoreResult<()> {
    check_text("add-in name", name, limits::MAX_ADDIN_NAME_CHARS, false)?;
    check_text("add-in URL", url, limits::MAX_ADDIN_URL_CHARS, false)?;
    check_http_url("add-in URL", url)
}

pub fn check_http_url(what: &str, url: &str) -> CoreResult<()> {
    let lower = url.to_ascii_lowercase();
    let rest = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !url.chars().any(char::is_whitespace) => Ok(()),
        _ => Err(CoreError::invalid(format!(
            "The {what} must be an http:// or https:// address, e.g. https://example.org/page."
        ))),
    }
}

/// Checks a post's text and story title against the documented limits.
pub fn check_post(text: &str, story_title: Option<&str>) -> CoreResult<()> {
    if text.trim().is_empty() {
        return Err(CoreError::invalid("A message needs some text."));
    }
    check_no_nul("message", text)?;
    if text.len() > limits::MAX_MESSAGE_BYTES {
        return Err(CoreError::new(
            ErrorCode::TooLong,
            format!(
                "The message is {} bytes; the limit is {} bytes. Split it or attach it as a file.",
                text.len(),
                limits::MAX_MESSAGE_BYTES
            ),
        ));
    }
    if let Some(title) = story_title {
        check_text("story title", title, limits::MAX_STORY_TITLE_CHARS, false)?;
    }
    Ok(())
}

pub const CHAT_HISTORY_RANGE: std::ops::RangeInclusive<u32> = 1..=500;
pub const MAX_FILE_SIZE_KB_RANGE: std::ops::RangeInclusive<u64> = 1..=4_194_304;
pub const PARTICIPANT_UPDATE_LIMIT_RANGE: std::ops::RangeInclusive<u32> = 1..=1_000_000;

/// A list page's `limit`: 1 to `MAX_PAGE`, refused (not clamped) outside, so a client never
/// mistakes a shortened page for the whole list.
pub fn check_page_limit(limit: u32) -> CoreResult<()> {
    check_range("limit", limit, 1..=longhall_types::limits::MAX_PAGE)
}

pub fn check_range<T: PartialOrd + std::fmt::Display>(
    what: &str,
    value: T,
    range: std::ops::RangeInclusive<T>,
) -> CoreResult<()> {
    if range.contains(&value) {
        Ok(())
    } else {
        Err(CoreError::invalid(format!(
            "{what} must be between {} and {}; {value} is outside.",
            range.start(),
            range.end()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn category(allowed: Vec<Principal>, denied: Vec<Principal>) -> Category {
        Category {
            id: 1,
            name: "c".into(),
            description: String::new(),
            invitations: false,
            file_upload: false,
            chat_history: true,
            allowed,
            denied,
            creators: vec![],
        }
    }

    fn room(privacy: Privacy, room_type: RoomType) -> Room {
        Room {
            id: 10,
            name: "r".into(),
            description: String::new(),
            category: 1,
            privacy,
            room_type,
            invitations: RoomInvitations::Inherit,
            addin: None,
            disabled: false,
            members: vec![],
            managers: vec![],
            presenters: vec![],
        }
    }

    fn alice() -> Affiliations {
        Affiliations { user: 1, domain: "example.org".into(), groups: HashSet::from([100]) }
    }

    #[test]
    fn scope_deny_wins_over_allow() {
        use Principal::*;
        let a = alice();
        // (allowed, denied, expected in scope)
        let cases: Vec<(Vec<Principal>, Vec<Principal>, bool)> = vec![
            (vec![Everyone], vec![], true),
            (vec![Domain("example.org".into())], vec![], true),
            (vec![Domain("other.org".into())], vec![], false),
            (vec![Group(100)], vec![], true),
            (vec![User(1)], vec![], true),
            (vec![], vec![], false),
            (vec![Everyone], vec![User(1)], false),
            (vec![User(1)], vec![Group(100)], false),
            (vec![Group(100)], vec![Domain("example.org".into())], false),
            (vec![Everyone], vec![Group(101)], true),
        ];
        for (allowed, denied, want) in cases {
            let cat = category(allowed.clone(), denied.clone());
            let acc = Access::of(&cat, &room(Privacy::Open, RoomType::Normal), &a, false);
            assert_eq!(acc.in_scope, want, "allowed {allowed:?} denied {denied:?}");
        }
    }

    #[test]
    fn privacy_table_find_read_post() {
        let a = alice();
        let cat_in = category(vec![Principal::Everyone], vec![]);
        let cat_out = category(vec![Principal::Domain("other.org".into())], vec![]);
        // (privacy, in scope, member) -> (find, read)
        let cases = [
            (Privacy::Open, true, false, true, true),
            (Privacy::Open, false, false, false, false),
            (Privacy::Closed, true, false, true, false),
            (Privacy::Closed, true, true, true, true),
            (Privacy::Closed, false, true, false, false),
            (Privacy::Secret, true, false, false, false),
            (Privacy::Secret, true, true, true, true),
            (Privacy::Secret, false, true, false, false),
        ];
        for (privacy, scoped, member, find, read) in cases {
            let mut r = room(privacy, RoomType::Normal);
            if member {
                r.members = vec![Principal::User(1)];
            }
            let cat = if scoped { &cat_in } else { &cat_out };
            let acc = Access::of(cat, &r, &a, false);
            assert_eq!(acc.can_find(), find, "{privacy:?} scoped={scoped} member={member} find");
            assert_eq!(acc.can_read(), read, "{privacy:?} scoped={scoped} member={member} read");
            assert_eq!(acc.can_post(), read, "normal rooms: readers post");
            if !acc.can_view() {
                assert_eq!(acc.read_denied(10).code, ErrorCode::RoomNotFound);
            }
        }
    }

    #[test]
    fn secret_room_denial_looks_like_a_missing_room() {
        let cat = category(vec![Principal::Everyone], vec![]);
        let acc = Access::of(&cat, &room(Privacy::Secret, RoomType::Normal), &alice(), false);
        assert_eq!(acc.read_denied(10), CoreError::room_not_found(10));
        let closed = Access::of(&cat, &room(Privacy::Closed, RoomType::Normal), &alice(), false);
        assert_eq!(closed.read_denied(10).code, ErrorCode::NotMember);
    }

    #[test]
    fn auditorium_only_presenters_post_even_managers_and_admins() {
        let cat = category(vec![Principal::Everyone], vec![]);
        // (member, presenter, manager, admin, privacy) -> can_post
        let cases = [
            (true, false, false, false, Privacy::Closed, false),
            (true, true, false, false, Privacy::Closed, true),
            (false, true, false, false, Privacy::Closed, false),
            (false, true, false, false, Privacy::Open, true),
            (true, false, true, false, Privacy::Closed, false),
            (true, false, false, true, Privacy::Closed, false),
            (false, false, false, false, Privacy::Open, false),
        ];
        for (member, presenter, manager, admin, privacy, want) in cases {
            let mut r = room(privacy, RoomType::Auditorium);
            let me = vec![Principal::User(1)];
            if member {
                r.members = me.clone();
            }
            if presenter {
                r.presenters = me.clone();
            }
            if manager {
                r.managers = me.clone();
            }
            let acc = Access::of(&cat, &r, &alice(), admin);
            assert_eq!(acc.can_post(), want, "m={member} p={presenter} mg={manager} a={admin} {privacy:?}");
            assert!(acc.can_read() || !member || privacy == Privacy::Open);
            if acc.can_read() && !want {
                assert_eq!(acc.post_denied(10).code, ErrorCode::NotPresenter);
            }
        }
    }

    #[test]
    fn disabled_rooms_hide_from_everyone_but_admins_and_managers() {
        let cat = category(vec![Principal::Everyone], vec![]);
        let mut r = room(Privacy::Open, RoomType::Normal);
        r.disabled = true;
        let user = Access::of(&cat, &r, &alice(), false);
        assert!(!user.can_find() && !user.can_read() && !user.can_view());
        let admin = Access::of(&cat, &r, &alice(), true);
        assert!(admin.can_find() && !admin.can_read());
        r.managers = vec![Principal::User(1)];
        let manager = Access::of(&cat, &r, &alice(), false);
        assert!(manager.can_view() && !manager.can_read());
        assert_eq!(manager.read_denied(10).code, ErrorCode::RoomDisabled);
    }

    #[test]
    fn managers_are_not_members_and_need_scope() {
        let mut r = room(Privacy::Closed, RoomType::Normal);
        r.managers = vec![Principal::User(1)];
        let cat = category(vec![Principal::Everyone], vec![]);
        let acc = Access::of(&cat, &r, &alice(), false);
        assert!(acc.can_manage() && !acc.can_read());
        let walled = category(vec![Principal::Everyone], vec![Principal::User(1)]);
        assert!(!Access::of(&walled, &r, &alice(), false).can_manage());
    }

    #[test]
    fn invitations_need_category_on_and_room_inherit() {
        let mut cat = category(vec![], vec![]);
        let mut r = room(Privacy::Closed, RoomType::Normal);
        assert!(!invitations_active(&cat, &r));
        cat.invitations = true;
        assert!(invitations_active(&cat, &r));
        r.invitations = RoomInvitations::Off;
        assert!(!invitations_active(&cat, &r));
    }

    #[test]
    fn names_urls_and_posts_are_validated() {
        assert!(check_name("room name", "Trading desk").is_ok());
        assert_eq!(check_name("room name", "").unwrap_err().code, ErrorCode::InvalidValue);
        assert_eq!(check_name("room name", " x").unwrap_err().code, ErrorCode::InvalidValue);
        assert_eq!(check_name("room name", &"é".repeat(257)).unwrap_err().code, ErrorCode::TooLong);
        assert!(check_name("room name", &"é".repeat(256)).is_ok());
        assert!(check_addin("Quotes", "https://quotes.example.org/x").is_ok());
        for bad in ["ftp://x", "javascript:alert(1)", "https://", "http://a b"] {
            assert!(check_addin("Quotes", bad).is_err(), "{bad}");
        }
        assert_eq!(check_addin(&"a".repeat(51), "https://x").unwrap_err().code, ErrorCode::TooLong);
        assert!(check_post("hi", None).is_ok());
        assert!(check_post("   ", None).is_err());
        assert_eq!(check_post(&"x".repeat(limits::MAX_MESSAGE_BYTES + 1), None).unwrap_err().code, ErrorCode::TooLong);
        assert!(check_post("tab\tand\nnewline", None).is_ok());
        assert!(check_range("default_chat_history", 0, CHAT_HISTORY_RANGE).is_err());
        assert!(check_range("default_chat_history", 500, CHAT_HISTORY_RANGE).is_ok());
        assert!(check_range("default_chat_history", 501, CHAT_HISTORY_RANGE).is_err());
    }

    /// PostgreSQL stores no U+0000: refused up front with a sentence, wherever Longhall keeps text.
    #[test]
    fn the_nul_character_is_refused_in_posts_titles_descriptions_and_names() {
        let refused = |r: CoreResult<()>| {
            let e = r.unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidValue);
            assert!(e.message.contains("U+0000"), "{}", e.message);
        };
        refused(check_post("before\0after", None));
        refused(check_post("fine", Some("title\0")));
        refused(check_description("about\0"));
        refused(check_name("room name", "Desk\0"));
        refused(check_addin("Quotes\0", "https://quotes.example.org"));
        assert!(check_description("").is_ok());
    }
}
