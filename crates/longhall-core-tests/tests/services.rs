//! Table-driven tests of the services every transport calls (product.md §1–§2), end to end
//! over a real SQLite store. Each rule family has a row type and a `check` that runs one row;
//! a row is a scenario and the outcome a user would notice.

use longhall_core::CoreError;
use longhall_core::service::{CONTENT_BATCH, DEFAULT_REPLACEMENT, HistoryQuery, MessageSearch};
use longhall_core_tests::{Live, PASSWORD, World, add, new_room, outcome, remove, replace, strings, text};
use longhall_types::ErrorCode as E;
use longhall_types::api::{
    AddinUpdate, CategoryUpdate, ConfigPut, KeywordMatch, NewAddin, NewCategory, NewRoom, NewUser, PeriodCount,
    Privacy, RemoveMessages, RemovedMessages, RoomActivity, RoomInvitations, RoomSearch, RoomType, RoomUpdate,
    RoomUpdated, RoomView, UsageQuery, UsageTotals, UserActivity, UserUpdate,
};
use longhall_types::ws::JoinTarget;

/// Where these sign-ins come from (the core only uses it for the failed-sign-in limits).
const LOCAL: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

/// alice, bob, dave @corp.org and carol @partner.org; alice sits three groups deep:
/// front ⊃ traders ⊃ desk ⊃ alice.
async fn corp() -> World {
    let w = World::new().await;
    for login in ["alice@corp.org", "bob@corp.org", "dave@corp.org", "carol@partner.org"] {
        w.user(login).await;
    }
    w.group("desk", &["user:alice@corp.org"]).await;
    w.group("traders", &["group:desk"]).await;
    w.group("front", &["group:traders"]).await;
    w
}

// ---------------------------------------------------------------------------------------------
// Scope, deny-wins and privacy: who finds, views, joins, reads and posts.

#[derive(Debug, Clone, Copy)]
enum Sees {
    /// Finds, views, joins, reads and posts.
    All,
    /// Finds and views the room; joining, reading and posting are refused with this code.
    Listed(E),
    /// The room does not exist for them: every call answers exactly "room not found".
    Nothing,
}

struct ScopeCase {
    what: &'static str,
    allowed: &'static [&'static str],
    denied: &'static [&'static str],
    privacy: Privacy,
    members: &'static [&'static str],
    /// Added to the category's denied list after the room's members were set.
    deny_later: &'static [&'static str],
    who: &'static str,
    sees: Sees,
}

async fn check_scope(w: &World, n: usize, case: &ScopeCase) {
    let what = case.what;
    let cat = w.category(&format!("Scope {n}"), case.allowed, case.denied, &[]).await;
    let room = w.room(new_room(&format!("Scope room {n}"), &cat.name, case.privacy, case.members)).await;
    if !case.deny_later.is_empty() {
        let upd = CategoryUpdate { denied_members: Some(add(case.deny_later)), ..Default::default() };
        w.update_category(&cat.name, upd).await;
    }
    let who = w.actor_of(case.who);
    let found = w.finds(&who, &cat.name, room.id).await;
    let view = w.lh.get_room(&who, room.id);
    let read = w.lh.history(&who, room.id, HistoryQuery::Latest, None).await;
    let post = w.lh.post(&who, room.id, text(&format!("{what}: hello")), None).await;
    let mut live = w.connect(&who);
    let joined = live.join(&w.lh, &[room.id]).await;
    let join_failure = joined["failed"].get(0).cloned();
    match case.sees {
        Sees::All => {
            assert!(found, "{what}: finds the room");
            let view = view.unwrap_or_else(|e| panic!("{what}: views the room: {e}"));
            assert!(view.roles.can_read && view.roles.can_post, "{what}: roles say read and post");
            assert_eq!(view.members, None, "{what}: lists are for managers only");
            assert!(read.is_ok(), "{what}: reads: {read:?}");
            assert!(post.is_ok(), "{what}: posts: {post:?}");
            assert_eq!(join_failure, None, "{what}: joins");
            let page = w.lh.history(&who, room.id, HistoryQuery::Latest, None).await.expect("history");
            assert_eq!(page.messages.last().map(|m| m.text.as_str()), Some(format!("{what}: hello").as_str()));
        }
        Sees::Listed(code) => {
            assert!(found, "{what}: finds the room");
            let view = view.unwrap_or_else(|e| panic!("{what}: views the room: {e}"));
            assert!(!view.roles.can_read && !view.roles.can_post, "{what}: roles say no reading");
            assert_eq!(outcome(&read), Err(code), "{what}: read");
            assert_eq!(outcome(&post), Err(code), "{what}: post");
            assert_eq!(join_failure.map(|f| f["code"].clone()), Some(code.as_str().into()), "{what}: join");
        }
        Sees::Nothing => {
            let missing = CoreError::room_not_found(room.id);
            assert!(!found, "{what}: the directory hides the room");
            let by_name = w.lh.find_room(&who, &room.name).err().map(|e| e.code);
            assert_eq!(by_name, Some(E::RoomNotFound), "{what}: looked up by name");
            assert_eq!(view.err(), Some(missing.clone()), "{what}: view");
            assert_eq!(read.err(), Some(missing.clone()), "{what}: read");
            assert_eq!(post.err(), Some(missing.clone()), "{what}: post");
            let failure = join_failure.unwrap_or_else(|| panic!("{what}: join refused"));
            assert_eq!(failure["code"], missing.code.as_str(), "{what}: join");
            assert_eq!(failure["message"], missing.message.as_str(), "{what}: join");
        }
    }
    assert!(w.finds(&w.system, &cat.name, room.id).await, "{what}: administrators find every room");
}

#[tokio::test]
async fn scope_deny_and_privacy_decide_who_finds_reads_and_posts() {
    use Privacy::{Closed, Open, Secret};
    let everyone: &[&str] = &["everyone"];
    let corp_domain: &[&str] = &["domain:corp.org"];
    #[rustfmt::skip]
    let cases = [
        // Open: scope alone decides.
        ScopeCase { what: "open, everyone in scope", allowed: everyone, denied: &[], privacy: Open, members: &[], deny_later: &[], who: "bob@corp.org", sees: Sees::All },
        ScopeCase { what: "open, scope names the user", allowed: &["user:alice@corp.org"], denied: &[], privacy: Open, members: &[], deny_later: &[], who: "alice@corp.org", sees: Sees::All },
        ScopeCase { what: "open, scope names another user", allowed: &["user:alice@corp.org"], denied: &[], privacy: Open, members: &[], deny_later: &[], who: "bob@corp.org", sees: Sees::Nothing },
        ScopeCase { what: "open, scope by group three levels up", allowed: &["group:front"], denied: &[], privacy: Open, members: &[], deny_later: &[], who: "alice@corp.org", sees: Sees::All },
        ScopeCase { what: "open, scope by group the user is not in", allowed: &["group:front"], denied: &[], privacy: Open, members: &[], deny_later: &[], who: "bob@corp.org", sees: Sees::Nothing },
        ScopeCase { what: "open, scope by domain", allowed: corp_domain, denied: &[], privacy: Open, members: &[], deny_later: &[], who: "bob@corp.org", sees: Sees::All },
        ScopeCase { what: "open, user of another domain", allowed: corp_domain, denied: &[], privacy: Open, members: &[], deny_later: &[], who: "carol@partner.org", sees: Sees::Nothing },
        ScopeCase { what: "open, denied user beats everyone", allowed: everyone, denied: &["user:bob@corp.org"], privacy: Open, members: &[], deny_later: &[], who: "bob@corp.org", sees: Sees::Nothing },
        ScopeCase { what: "open, denied nested group beats allowed user", allowed: &["user:alice@corp.org"], denied: &["group:front"], privacy: Open, members: &[], deny_later: &[], who: "alice@corp.org", sees: Sees::Nothing },
        ScopeCase { what: "open, denied domain beats allowed group", allowed: &["group:front"], denied: corp_domain, privacy: Open, members: &[], deny_later: &[], who: "alice@corp.org", sees: Sees::Nothing },
        ScopeCase { what: "open, everyone denied", allowed: &["user:alice@corp.org"], denied: everyone, privacy: Open, members: &[], deny_later: &[], who: "alice@corp.org", sees: Sees::Nothing },
        ScopeCase { what: "open, a denied group the user is not in", allowed: everyone, denied: &["group:front"], privacy: Open, members: &[], deny_later: &[], who: "bob@corp.org", sees: Sees::All },
        ScopeCase { what: "open, member whose scope was narrowed", allowed: everyone, denied: &[], privacy: Open, members: &["user:bob@corp.org"], deny_later: &["user:bob@corp.org"], who: "bob@corp.org", sees: Sees::Nothing },
        // Closed: scope finds, membership reads.
        ScopeCase { what: "closed, in scope, not a member", allowed: corp_domain, denied: &[], privacy: Closed, members: &[], deny_later: &[], who: "bob@corp.org", sees: Sees::Listed(E::NotMember) },
        ScopeCase { what: "closed, member by name", allowed: corp_domain, denied: &[], privacy: Closed, members: &["user:bob@corp.org"], deny_later: &[], who: "bob@corp.org", sees: Sees::All },
        ScopeCase { what: "closed, member through nested groups", allowed: everyone, denied: &[], privacy: Closed, members: &["group:front"], deny_later: &[], who: "alice@corp.org", sees: Sees::All },
        ScopeCase { what: "closed, member through domain", allowed: everyone, denied: &[], privacy: Closed, members: corp_domain, deny_later: &[], who: "dave@corp.org", sees: Sees::All },
        ScopeCase { what: "closed, member through everyone", allowed: everyone, denied: &[], privacy: Closed, members: everyone, deny_later: &[], who: "carol@partner.org", sees: Sees::All },
        ScopeCase { what: "closed, member of a group, user denied", allowed: everyone, denied: &["user:alice@corp.org"], privacy: Closed, members: &["group:front"], deny_later: &[], who: "alice@corp.org", sees: Sees::Nothing },
        ScopeCase { what: "closed, member, nested group denied later", allowed: everyone, denied: &[], privacy: Closed, members: &["user:alice@corp.org"], deny_later: &["group:traders"], who: "alice@corp.org", sees: Sees::Nothing },
        ScopeCase { what: "closed, out of scope, not a member", allowed: &["domain:partner.org"], denied: &[], privacy: Closed, members: &[], deny_later: &[], who: "bob@corp.org", sees: Sees::Nothing },
        // Secret: only members know it exists.
        ScopeCase { what: "secret, member by name", allowed: everyone, denied: &[], privacy: Secret, members: &["user:bob@corp.org"], deny_later: &[], who: "bob@corp.org", sees: Sees::All },
        ScopeCase { what: "secret, member through nested groups", allowed: everyone, denied: &[], privacy: Secret, members: &["group:traders"], deny_later: &[], who: "alice@corp.org", sees: Sees::All },
        ScopeCase { what: "secret, in scope, not a member", allowed: everyone, denied: &[], privacy: Secret, members: &["user:bob@corp.org"], deny_later: &[], who: "alice@corp.org", sees: Sees::Nothing },
        ScopeCase { what: "secret, out of scope, not a member", allowed: &["domain:partner.org"], denied: &[], privacy: Secret, members: &["user:carol@partner.org"], deny_later: &[], who: "bob@corp.org", sees: Sees::Nothing },
        ScopeCase { what: "secret, member, domain denied later", allowed: everyone, denied: &[], privacy: Secret, members: &["user:bob@corp.org"], deny_later: corp_domain, who: "bob@corp.org", sees: Sees::Nothing },
    ];
    let w = corp().await;
    for (n, case) in cases.iter().enumerate() {
        check_scope(&w, n, case).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The ethical wall: every principal put on a room's list must be in the category's scope.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum List {
    Members,
    Managers,
    Presenters,
}

#[derive(Debug, Clone, Copy)]
enum Stage {
    /// A creator creates the room with the principal on the list.
    CreatedByCreator,
    /// An administrator does.
    CreatedByAdmin,
    /// The room's manager adds the principal.
    AddedByManager,
    /// An administrator replaces the list with the principal.
    ReplacedByAdmin,
}

struct WallCase {
    principal: &'static str,
    in_scope: bool,
    why: &'static str,
}

fn with_list(list: List, who: &[&str]) -> (Vec<String>, Vec<String>, Vec<String>) {
    match list {
        List::Members => (strings(who), vec![], vec![]),
        List::Managers => (vec![], strings(who), vec![]),
        List::Presenters => (vec![], vec![], strings(who)),
    }
}

fn list_of(view: &RoomView, list: List) -> Vec<String> {
    match list {
        List::Members => view.members.clone(),
        List::Managers => view.managers.clone(),
        List::Presenters => view.presenters.clone(),
    }
    .expect("administrators see the lists")
}

async fn check_wall(w: &World, n: usize, case: &WallCase, list: List, stage: Stage) {
    let what = format!("{} ({}) as {list:?}, {stage:?}", case.principal, case.why);
    let alice = w.actor_of("alice@corp.org");
    let name = format!("Wall {n}");
    // Open auditoriums take presenters without membership, so only the scope decides here.
    let base = NewRoom {
        name: name.clone(),
        category: "Walled".into(),
        privacy: Privacy::Open,
        room_type: RoomType::Auditorium,
        ..Default::default()
    };
    let result = match stage {
        Stage::CreatedByCreator | Stage::CreatedByAdmin => {
            let (members, managers, presenters) = with_list(list, &[case.principal]);
            let new = NewRoom { members, managers, presenters, ..base };
            let by = if matches!(stage, Stage::CreatedByCreator) { &alice } else { &w.system };
            w.lh.create_room(by, new).await.map(|v| v.id)
        }
        Stage::AddedByManager | Stage::ReplacedByAdmin => {
            let room = w.lh.create_room(&alice, base).await.expect("the creator creates the room");
            let before = w.room_as_admin(room.id);
            let (edit, by) = match stage {
                Stage::AddedByManager => (add(&[case.principal]), &alice),
                _ => (replace(&[case.principal]), &w.system),
            };
            let upd = match list {
                List::Members => RoomUpdate { members: Some(edit), ..Default::default() },
                List::Managers => RoomUpdate { managers: Some(edit), ..Default::default() },
                List::Presenters => RoomUpdate { presenters: Some(edit), ..Default::default() },
            };
            let result = w.lh.update_room(by, room.id, upd).await.map(|u| u.room.id);
            if result.is_err() {
                assert_eq!(w.room_as_admin(room.id), before, "{what}: a refused edit changes nothing");
            }
            result
        }
    };
    if case.in_scope {
        let id = result.unwrap_or_else(|e| panic!("{what}: accepted, got {e}"));
        assert!(list_of(&w.room_as_admin(id), list).contains(&case.principal.to_owned()), "{what}: on the list");
    } else {
        let err = result.expect_err(&what);
        assert_eq!(err.code, E::OutOfScope, "{what}");
        assert!(err.message.contains(case.principal), "{what}: the error names the principal: {}", err.message);
        if matches!(stage, Stage::CreatedByCreator | Stage::CreatedByAdmin) {
            assert_eq!(w.lh.find_room(&w.system, &name).map(|_| ()).err().map(|e| e.code), Some(E::RoomNotFound));
        }
    }
}

#[tokio::test]
async fn the_ethical_wall_refuses_out_of_scope_members_managers_and_presenters() {
    let w = World::new().await;
    for login in ["alice@corp.org", "bob@corp.org", "dave@corp.org", "erin@corp.org"] {
        w.user(login).await;
    }
    for login in ["carol@partner.org", "frank@partner.org"] {
        w.user(login).await;
    }
    w.group("partners", &["user:carol@partner.org"]).await;
    w.group("contractors", &["user:erin@corp.org"]).await;
    w.group("blocked", &["group:contractors"]).await;
    w.group("outsiders", &["user:frank@partner.org"]).await;
    w.category(
        "Walled",
        &["domain:corp.org", "group:partners"],
        &["user:dave@corp.org", "group:blocked"],
        &["user:alice@corp.org"],
    )
    .await;
    #[rustfmt::skip]
    let cases = [
        WallCase { principal: "user:bob@corp.org", in_scope: true, why: "allowed through the domain" },
        WallCase { principal: "user:carol@partner.org", in_scope: true, why: "allowed through a group" },
        WallCase { principal: "group:partners", in_scope: true, why: "an allowed group" },
        WallCase { principal: "domain:corp.org", in_scope: true, why: "the allowed domain" },
        WallCase { principal: "user:frank@partner.org", in_scope: false, why: "matches nothing allowed" },
        WallCase { principal: "user:dave@corp.org", in_scope: false, why: "allowed by domain, denied by name" },
        WallCase { principal: "user:erin@corp.org", in_scope: false, why: "denied through a nested group" },
        WallCase { principal: "group:outsiders", in_scope: false, why: "a group not allowed" },
        WallCase { principal: "group:contractors", in_scope: false, why: "a group inside a denied group" },
        WallCase { principal: "domain:partner.org", in_scope: false, why: "only some of its users are allowed" },
        WallCase { principal: "everyone", in_scope: false, why: "wider than the scope" },
    ];
    let mut n = 0;
    for case in &cases {
        for list in [List::Members, List::Managers, List::Presenters] {
            for stage in [Stage::CreatedByCreator, Stage::CreatedByAdmin, Stage::AddedByManager, Stage::ReplacedByAdmin]
            {
                check_wall(&w, n, case, list, stage).await;
                n += 1;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Creators: only creators who are in scope create rooms, and they become managers.

struct CreatorCase {
    who: &'static str,
    /// `None`: refused with `forbidden`; `Some(manager)`: created, and the creator is on the
    /// managers list (`true`) or manages as an administrator without being listed (`false`).
    creates: Option<bool>,
    why: &'static str,
}

#[tokio::test]
async fn only_creators_in_scope_create_rooms_and_they_become_managers() {
    let w = World::new().await;
    for login in ["alice@corp.org", "bob@corp.org", "dave@corp.org", "carol@partner.org", "frank@partner.org"] {
        w.user(login).await;
    }
    w.admin_user("ada@corp.org").await;
    w.group("partners", &["user:carol@partner.org"]).await;
    w.group("makers", &["group:partners"]).await;
    w.category(
        "Studio",
        &["domain:corp.org", "group:partners"],
        &["user:dave@corp.org"],
        &["user:alice@corp.org", "group:makers", "user:dave@corp.org", "user:frank@partner.org"],
    )
    .await;
    #[rustfmt::skip]
    let cases = [
        CreatorCase { who: "alice@corp.org", creates: Some(true), why: "creator by name" },
        CreatorCase { who: "carol@partner.org", creates: Some(true), why: "creator through nested groups" },
        CreatorCase { who: "bob@corp.org", creates: None, why: "in scope, not a creator" },
        CreatorCase { who: "dave@corp.org", creates: None, why: "a creator, but denied" },
        CreatorCase { who: "frank@partner.org", creates: None, why: "a creator, but not allowed" },
        CreatorCase { who: "ada@corp.org", creates: Some(false), why: "an administrator" },
    ];
    for (n, case) in cases.iter().enumerate() {
        let who = w.actor_of(case.who);
        let name = format!("Studio room {n}");
        let result = w.lh.create_room(&who, new_room(&name, "Studio", Privacy::Closed, &[])).await;
        let listed = w.lh.list_categories(&who).expect("categories").iter().any(|c| c.name == "Studio");
        match case.creates {
            None => {
                assert_eq!(outcome(&result), Err(E::Forbidden), "{}: {}", case.who, case.why);
                assert!(!listed, "{}: the category is not offered", case.who);
            }
            Some(listed_manager) => {
                let view = result.unwrap_or_else(|e| panic!("{}: {}: {e}", case.who, case.why));
                assert!(listed, "{}: the category is offered", case.who);
                assert!(view.roles.can_manage, "{}: manages the new room", case.who);
                let managers = w.room_as_admin(view.id).managers.unwrap_or_default();
                assert_eq!(managers.contains(&format!("user:{}", case.who)), listed_manager, "{}", case.why);
                let upd = RoomUpdate { description: Some("Ours.".into()), ..Default::default() };
                assert!(w.lh.update_room(&who, view.id, upd).await.is_ok(), "{}: edits the new room", case.who);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Manager rights.

struct ManageCase {
    what: &'static str,
    by: &'static str,
    /// Applied by an administrator before the row's change.
    before: Option<RoomUpdate>,
    change: RoomUpdate,
    expect: Result<(), E>,
    /// What the accepted change shows.
    shows: fn(&RoomUpdated) -> bool,
}

fn nothing(_: &RoomUpdated) -> bool {
    true
}

async fn check_manage(w: &World, n: usize, case: ManageCase) {
    let what = case.what;
    let mut new =
        new_room(&format!("Managed {n}"), "Home", Privacy::Closed, &["user:alice@corp.org", "user:carol@partner.org"]);
    new.managers = strings(&["user:mallory@corp.org"]);
    let room = w.room(new).await;
    if let Some(before) = case.before {
        w.update_room(room.id, before).await;
    }
    let before = w.room_as_admin(room.id);
    let by = w.actor_of(case.by);
    let result = w.lh.update_room(&by, room.id, case.change).await;
    assert_eq!(outcome(&result), case.expect, "{what}");
    match result {
        Ok(updated) => assert!((case.shows)(&updated), "{what}: {updated:?}"),
        Err(_) => assert_eq!(w.room_as_admin(room.id), before, "{what}: a refused change changes nothing"),
    }
}

#[tokio::test]
async fn managers_change_everything_but_the_category_and_may_not_re_enable_or_delete() {
    let w = World::new().await;
    for login in ["mallory@corp.org", "alice@corp.org", "bob@corp.org", "carol@partner.org"] {
        w.user(login).await;
    }
    w.category("Home", &["everyone"], &[], &["user:carol@partner.org"]).await;
    w.category("Target", &["domain:corp.org"], &[], &["user:mallory@corp.org"]).await;
    w.category("Elsewhere", &["everyone"], &[], &["user:carol@partner.org"]).await;
    w.lh.create_addin(&w.system, NewAddin { name: "Quotes".into(), url: "https://quotes.example.org".into() })
        .await
        .expect("add-in");
    let m = "mallory@corp.org";
    let upd = RoomUpdate::default;
    #[rustfmt::skip]
    let cases = [
        ManageCase { what: "rename", by: m, before: None, change: RoomUpdate { name: Some("Renamed room".into()), ..upd() }, expect: Ok(()), shows: |u| u.room.name == "Renamed room" },
        ManageCase { what: "describe", by: m, before: None, change: RoomUpdate { description: Some("Rates talk".into()), ..upd() }, expect: Ok(()), shows: |u| u.room.description == "Rates talk" },
        ManageCase { what: "make secret", by: m, before: None, change: RoomUpdate { privacy: Some(Privacy::Secret), ..upd() }, expect: Ok(()), shows: |u| u.room.privacy == Privacy::Secret },
        ManageCase { what: "make auditorium", by: m, before: None, change: RoomUpdate { room_type: Some(RoomType::Auditorium), ..upd() }, expect: Ok(()), shows: |u| u.room.room_type == RoomType::Auditorium },
        ManageCase { what: "add a member", by: m, before: None, change: RoomUpdate { members: Some(add(&["user:bob@corp.org"])), ..upd() }, expect: Ok(()), shows: |u| u.room.members.as_ref().is_some_and(|l| l.contains(&"user:bob@corp.org".to_owned())) },
        ManageCase { what: "remove a member", by: m, before: None, change: RoomUpdate { members: Some(remove(&["user:carol@partner.org"])), ..upd() }, expect: Ok(()), shows: |u| u.room.members == Some(strings(&["user:alice@corp.org"])) },
        ManageCase { what: "add a manager", by: m, before: None, change: RoomUpdate { managers: Some(add(&["user:alice@corp.org"])), ..upd() }, expect: Ok(()), shows: |u| u.room.managers.as_ref().is_some_and(|l| l.len() == 2) },
        ManageCase { what: "auditorium with a presenter", by: m, before: None, change: RoomUpdate { room_type: Some(RoomType::Auditorium), presenters: Some(add(&["user:alice@corp.org"])), ..upd() }, expect: Ok(()), shows: |u| u.room.presenters == Some(strings(&["user:alice@corp.org"])) },
        ManageCase { what: "pick an add-in", by: m, before: None, change: RoomUpdate { addin: Some("quotes".into()), ..upd() }, expect: Ok(()), shows: |u| u.room.addin.as_ref().is_some_and(|a| a.name == "Quotes") },
        ManageCase { what: "drop the add-in", by: m, before: Some(RoomUpdate { addin: Some("Quotes".into()), ..upd() }), change: RoomUpdate { addin: Some(String::new()), ..upd() }, expect: Ok(()), shows: |u| u.room.addin.is_none() },
        ManageCase { what: "an unknown add-in", by: m, before: None, change: RoomUpdate { addin: Some("Nope".into()), ..upd() }, expect: Err(E::AddinNotFound), shows: nothing },
        ManageCase { what: "turn invitations off", by: m, before: None, change: RoomUpdate { invitations: Some(RoomInvitations::Off), ..upd() }, expect: Ok(()), shows: |u| u.room.invitations == RoomInvitations::Off },
        ManageCase { what: "disable", by: m, before: None, change: RoomUpdate { disabled: Some(true), ..upd() }, expect: Ok(()), shows: |u| u.room.disabled },
        ManageCase { what: "re-enable", by: m, before: Some(RoomUpdate { disabled: Some(true), ..upd() }), change: RoomUpdate { disabled: Some(false), ..upd() }, expect: Err(E::AdminRequired), shows: nothing },
        ManageCase { what: "move where not a creator", by: m, before: None, change: RoomUpdate { category: Some("Elsewhere".into()), ..upd() }, expect: Err(E::Forbidden), shows: nothing },
        ManageCase { what: "move where a creator", by: m, before: None, change: RoomUpdate { category: Some("Target".into()), ..upd() }, expect: Ok(()), shows: |u| u.room.category == "Target" && u.purged == ["user:carol@partner.org"] && u.room.members == Some(strings(&["user:alice@corp.org"])) },
        ManageCase { what: "a member renames", by: "alice@corp.org", before: None, change: RoomUpdate { name: Some("Mine now".into()), ..upd() }, expect: Err(E::Forbidden), shows: nothing },
        ManageCase { what: "a creator of the category renames", by: "carol@partner.org", before: None, change: RoomUpdate { name: Some("Mine now".into()), ..upd() }, expect: Err(E::Forbidden), shows: nothing },
        ManageCase { what: "an outsider renames", by: "bob@corp.org", before: None, change: RoomUpdate { name: Some("Mine now".into()), ..upd() }, expect: Err(E::Forbidden), shows: nothing },
    ];
    for (n, case) in cases.into_iter().enumerate() {
        check_manage(&w, n, case).await;
    }

    // A manager is not a member: manages a Closed room without reading it, and can't delete it.
    let mut new = new_room("Managed only", "Home", Privacy::Closed, &["user:alice@corp.org"]);
    new.managers = strings(&["user:mallory@corp.org"]);
    let room = w.room(new).await;
    let mallory = w.actor_of(m);
    let view = w.lh.get_room(&mallory, room.id).expect("managers view their room");
    assert!(view.roles.manager && view.roles.can_manage && !view.roles.member && !view.roles.can_read);
    assert_eq!(view.members, Some(strings(&["user:alice@corp.org"])), "managers see the lists");
    let read = w.lh.history(&mallory, room.id, HistoryQuery::Latest, None).await;
    assert_eq!(outcome(&read), Err(E::NotMember));
    assert_eq!(outcome(&w.lh.post(&mallory, room.id, text("hi"), None).await), Err(E::NotMember));
    assert_eq!(outcome(&w.lh.delete_room(&mallory, room.id).await), Err(E::AdminRequired));
    // A disabled room stays visible to its manager, who can't enter it; an administrator
    // enables it again.
    let disable = RoomUpdate { disabled: Some(true), ..upd() };
    w.lh.update_room(&mallory, room.id, disable).await.expect("managers disable");
    assert!(w.lh.get_room(&mallory, room.id).is_ok());
    let alice = w.actor_of("alice@corp.org");
    assert_eq!(w.lh.get_room(&alice, room.id).err(), Some(CoreError::room_not_found(room.id)));
    let enable = RoomUpdate { disabled: Some(false), ..upd() };
    assert!(!w.update_room(room.id, enable).await.room.disabled, "administrators enable");
    assert!(w.lh.history(&alice, room.id, HistoryQuery::Latest, None).await.is_ok());
    w.lh.delete_room(&w.system, room.id).await.expect("administrators delete");
    assert_eq!(w.lh.get_room(&w.system, room.id).err(), Some(CoreError::room_not_found(room.id)));
}

#[tokio::test]
async fn moving_a_room_purges_and_reports_out_of_scope_entries_and_kicks_them() {
    let w = World::new().await;
    for login in ["mallory@corp.org", "alice@corp.org", "carol@partner.org"] {
        w.user(login).await;
    }
    w.group("partners", &["user:carol@partner.org"]).await;
    w.category("Home", &["everyone"], &[], &[]).await;
    w.category("Target", &["domain:corp.org"], &[], &["user:mallory@corp.org"]).await;
    let room = w
        .room(NewRoom {
            name: "Mixed".into(),
            category: "Home".into(),
            privacy: Privacy::Closed,
            room_type: RoomType::Auditorium,
            members: strings(&[
                "user:alice@corp.org",
                "user:carol@partner.org",
                "group:partners",
                "domain:partner.org",
                "domain:corp.org",
            ]),
            managers: strings(&["user:mallory@corp.org", "user:carol@partner.org"]),
            presenters: strings(&["user:carol@partner.org", "user:alice@corp.org"]),
            ..Default::default()
        })
        .await;
    let mut alice = w.connect(&w.actor_of("alice@corp.org"));
    let mut carol = w.connect(&w.actor_of("carol@partner.org"));
    alice.join(&w.lh, &[room.id]).await;
    carol.join(&w.lh, &[room.id]).await;
    alice.frames();
    let mallory = w.actor_of("mallory@corp.org");
    let moved =
        w.lh.update_room(&mallory, room.id, RoomUpdate { category: Some("Target".into()), ..Default::default() })
            .await
            .expect("a manager who is a creator in the target moves the room");
    let mut purged = moved.purged.clone();
    purged.sort();
    purged.dedup();
    assert_eq!(purged, ["domain:partner.org", "group:partners", "user:carol@partner.org"]);
    let after = w.room_as_admin(room.id);
    assert_eq!(after.category, "Target");
    assert_eq!(after.members, Some(strings(&["user:alice@corp.org", "domain:corp.org"])));
    assert_eq!(after.managers, Some(strings(&["user:mallory@corp.org"])));
    assert_eq!(after.presenters, Some(strings(&["user:alice@corp.org"])));
    // Carol lost the room at once; alice stays and hears about the move.
    assert_eq!(carol.frames_of("kicked").len(), 1);
    assert!(!carol.conn.is_joined(room.id));
    assert!(alice.conn.is_joined(room.id));
    let changed = alice.frames_of("room_changed");
    assert_eq!(changed.last().map(|f| f["room"]["category"].clone()), Some("Target".into()));
    // An administrator moves without being a creator anywhere.
    let back = w.update_room(room.id, RoomUpdate { category: Some("Home".into()), ..Default::default() }).await;
    assert!(back.purged.is_empty() && back.room.category == "Home");
}

// ---------------------------------------------------------------------------------------------
// Auditoriums: only presenters post.

struct StageCase {
    room: &'static str,
    who: &'static str,
    post: Result<(), E>,
    reads: bool,
}

async fn check_stage(w: &World, room: i64, case: &StageCase) {
    let who = w.actor_of(case.who);
    let posted = w.lh.post(&who, room, text("from the floor"), None).await;
    assert_eq!(outcome(&posted), case.post, "{} posting in {}", case.who, case.room);
    let read = w.lh.history(&who, room, HistoryQuery::Latest, None).await;
    assert_eq!(read.is_ok(), case.reads, "{} reading {}", case.who, case.room);
    let can_post = w.lh.get_room(&who, room).map(|v| v.roles.can_post).ok();
    assert_eq!(can_post, Some(case.post.is_ok()), "{} in {}: the roles agree", case.who, case.room);
}

#[tokio::test]
async fn in_auditoriums_only_presenters_post_and_everyone_else_reads() {
    let w = World::new().await;
    for login in ["pam@corp.org", "mia@corp.org", "max@corp.org", "ned@corp.org", "gus@corp.org"] {
        w.user(login).await;
    }
    w.admin_user("ada@corp.org").await;
    w.group("crew", &["user:gus@corp.org"]).await;
    w.category("Stage", &["everyone"], &[], &[]).await;
    let closed = w
        .room(NewRoom {
            name: "Town hall".into(),
            category: "Stage".into(),
            privacy: Privacy::Closed,
            room_type: RoomType::Auditorium,
            members: strings(&[
                "user:pam@corp.org",
                "user:mia@corp.org",
                "user:max@corp.org",
                "user:ada@corp.org",
                "group:crew",
            ]),
            managers: strings(&["user:max@corp.org"]),
            presenters: strings(&["user:pam@corp.org", "group:crew"]),
            ..Default::default()
        })
        .await;
    let open = w
        .room(NewRoom {
            name: "Keynote".into(),
            category: "Stage".into(),
            privacy: Privacy::Open,
            room_type: RoomType::Auditorium,
            presenters: strings(&["user:pam@corp.org"]),
            ..Default::default()
        })
        .await;
    #[rustfmt::skip]
    let cases = [
        StageCase { room: "Town hall", who: "pam@corp.org", post: Ok(()), reads: true },
        StageCase { room: "Town hall", who: "gus@corp.org", post: Ok(()), reads: true },
        StageCase { room: "Town hall", who: "mia@corp.org", post: Err(E::NotPresenter), reads: true },
        StageCase { room: "Town hall", who: "max@corp.org", post: Err(E::NotPresenter), reads: true },
        StageCase { room: "Town hall", who: "ada@corp.org", post: Err(E::NotPresenter), reads: true },
        StageCase { room: "Town hall", who: "ned@corp.org", post: Err(E::NotMember), reads: false },
        StageCase { room: "Keynote", who: "pam@corp.org", post: Ok(()), reads: true },
        StageCase { room: "Keynote", who: "ned@corp.org", post: Err(E::NotPresenter), reads: true },
        StageCase { room: "Keynote", who: "ada@corp.org", post: Err(E::NotPresenter), reads: true },
    ];
    for case in &cases {
        check_stage(&w, if case.room == "Town hall" { closed.id } else { open.id }, case).await;
    }
    // Readers follow the presenter live.
    let mut ned = w.connect(&w.actor_of("ned@corp.org"));
    ned.join(&w.lh, &[open.id]).await;
    w.say(&w.actor_of("pam@corp.org"), open.id, "welcome").await;
    let heard: Vec<_> = ned.frames_of("message").iter().map(|f| f["text"].clone()).collect();
    assert_eq!(heard, ["welcome"]);
}

struct PresenterCase {
    what: &'static str,
    privacy: Privacy,
    room_type: RoomType,
    members: &'static [&'static str],
    presenters: &'static [&'static str],
    expect: Result<(), E>,
}

async fn check_presenter(w: &World, n: usize, case: &PresenterCase) {
    let base = NewRoom {
        name: format!("Presenters {n}"),
        category: "Stage".into(),
        privacy: case.privacy,
        room_type: case.room_type,
        members: strings(case.members),
        ..Default::default()
    };
    // At creation.
    let created = w.lh.create_room(&w.system, NewRoom { presenters: strings(case.presenters), ..base.clone() }).await;
    assert_eq!(outcome(&created), case.expect, "{}: at creation", case.what);
    // Later, by an edit.
    let room = w.room(NewRoom { name: format!("Presenters {n} later"), ..base }).await;
    let upd = RoomUpdate { presenters: Some(add(case.presenters)), ..Default::default() };
    let edited = w.lh.update_room(&w.system, room.id, upd).await;
    assert_eq!(outcome(&edited), case.expect, "{}: by an edit", case.what);
    let presenters = w.room_as_admin(room.id).presenters.unwrap_or_default();
    assert_eq!(presenters.is_empty(), case.expect.is_err(), "{}: the list after the edit", case.what);
}

#[tokio::test]
async fn presenters_must_be_members_unless_open_and_exist_only_in_auditoriums() {
    use Privacy::{Closed, Open, Secret};
    use RoomType::{Auditorium, Normal};
    let w = corp().await;
    w.category("Stage", &["everyone"], &[], &[]).await;
    #[rustfmt::skip]
    let cases = [
        PresenterCase { what: "closed, presenter not a member", privacy: Closed, room_type: Auditorium, members: &["user:bob@corp.org"], presenters: &["user:dave@corp.org"], expect: Err(E::InvalidPresenter) },
        PresenterCase { what: "closed, presenter a member", privacy: Closed, room_type: Auditorium, members: &["user:bob@corp.org"], presenters: &["user:bob@corp.org"], expect: Ok(()) },
        PresenterCase { what: "closed, presenter a member through nested groups", privacy: Closed, room_type: Auditorium, members: &["group:front"], presenters: &["user:alice@corp.org"], expect: Ok(()) },
        PresenterCase { what: "closed, presenter group inside a member group", privacy: Closed, room_type: Auditorium, members: &["group:front"], presenters: &["group:desk"], expect: Ok(()) },
        PresenterCase { what: "closed, presenter group that is a member", privacy: Closed, room_type: Auditorium, members: &["group:desk"], presenters: &["group:desk"], expect: Ok(()) },
        PresenterCase { what: "closed, presenter group wider than the members", privacy: Closed, room_type: Auditorium, members: &["group:desk"], presenters: &["group:front"], expect: Err(E::InvalidPresenter) },
        PresenterCase { what: "closed, presenter a member through the domain", privacy: Closed, room_type: Auditorium, members: &["domain:corp.org"], presenters: &["user:dave@corp.org"], expect: Ok(()) },
        PresenterCase { what: "secret, presenter not a member", privacy: Secret, room_type: Auditorium, members: &["user:bob@corp.org"], presenters: &["user:carol@partner.org"], expect: Err(E::InvalidPresenter) },
        PresenterCase { what: "open, presenter not a member", privacy: Open, room_type: Auditorium, members: &[], presenters: &["user:carol@partner.org"], expect: Ok(()) },
        PresenterCase { what: "normal closed room", privacy: Closed, room_type: Normal, members: &["user:bob@corp.org"], presenters: &["user:bob@corp.org"], expect: Err(E::InvalidPresenter) },
        PresenterCase { what: "normal open room", privacy: Open, room_type: Normal, members: &[], presenters: &["user:bob@corp.org"], expect: Err(E::InvalidPresenter) },
    ];
    for (n, case) in cases.iter().enumerate() {
        check_presenter(&w, n, case).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Names and limits.

enum NameOp {
    NewRoom(String),
    NewRoomDescribed(&'static str, String),
    NewCategory(String),
    RenameRoom(String),
    RenameCategory(String),
    DescribeRoom(String),
    DescribeCategory(String),
    NewAddin(String, String),
    AddinUrl(&'static str, String),
    RoomAddin(&'static str),
}

async fn check_name(w: &World, op: NameOp) -> Result<(), E> {
    let sys = &w.system;
    let rates = w.lh.find_room(sys, "Rates").expect("the room Rates").id;
    let room = |name: String| new_room(&name, "Markets", Privacy::Open, &[]);
    match op {
        NameOp::NewRoom(name) => outcome(&w.lh.create_room(sys, room(name)).await),
        NameOp::NewRoomDescribed(name, description) => {
            outcome(&w.lh.create_room(sys, NewRoom { description, ..room(name.into()) }).await)
        }
        NameOp::NewCategory(name) => {
            let new = NewCategory { name, allowed_members: strings(&["everyone"]), ..Default::default() };
            outcome(&w.lh.create_category(sys, new).await)
        }
        NameOp::RenameRoom(name) => {
            outcome(&w.lh.update_room(sys, rates, RoomUpdate { name: Some(name), ..Default::default() }).await)
        }
        NameOp::RenameCategory(name) => {
            let upd = CategoryUpdate { name: Some(name), ..Default::default() };
            outcome(&w.lh.update_category(sys, "Other", upd).await)
        }
        NameOp::DescribeRoom(d) => {
            outcome(&w.lh.update_room(sys, rates, RoomUpdate { description: Some(d), ..Default::default() }).await)
        }
        NameOp::DescribeCategory(d) => {
            let upd = CategoryUpdate { description: Some(d), ..Default::default() };
            outcome(&w.lh.update_category(sys, "Other", upd).await)
        }
        NameOp::NewAddin(name, url) => outcome(&w.lh.create_addin(sys, NewAddin { name, url }).await),
        NameOp::AddinUrl(name, url) => {
            outcome(&w.lh.update_addin(sys, name, AddinUpdate { url: Some(url), ..Default::default() }).await)
        }
        NameOp::RoomAddin(name) => {
            outcome(&w.lh.update_room(sys, rates, RoomUpdate { addin: Some(name.into()), ..Default::default() }).await)
        }
    }
}

#[tokio::test]
async fn rooms_and_categories_share_one_name_space_and_limits_hold() {
    let w = World::new().await;
    w.category("Markets", &["everyone"], &[], &[]).await;
    w.category("Other", &["everyone"], &[], &[]).await;
    w.room(new_room("Rates", "Markets", Privacy::Open, &[])).await;
    let s = |c: &str, n: usize| c.repeat(n);
    use NameOp as Op;
    #[rustfmt::skip]
    let cases = [
        ("a room named like a category", Op::NewRoom("markets".into()), Err(E::NameTaken)),
        ("a room named like a room", Op::NewRoom("RATES".into()), Err(E::NameTaken)),
        ("a category named like a room", Op::NewCategory("rates".into()), Err(E::NameTaken)),
        ("a category named like a category", Op::NewCategory("MARKETS".into()), Err(E::NameTaken)),
        ("a room renamed to a category's name", Op::RenameRoom("oTHER".into()), Err(E::NameTaken)),
        ("a category renamed to a room's name", Op::RenameCategory("rAtEs".into()), Err(E::NameTaken)),
        ("a room renamed in another case", Op::RenameRoom("RATES".into()), Ok(())),
        ("a room name of 256 characters", Op::NewRoom(s("é", 256)), Ok(())),
        ("a room name of 257 characters", Op::NewRoom(s("è", 257)), Err(E::TooLong)),
        ("a rename to 257 characters", Op::RenameRoom(s("x", 257)), Err(E::TooLong)),
        ("a category name of 256 characters", Op::NewCategory(s("ü", 256)), Ok(())),
        ("a category name of 257 characters", Op::NewCategory(s("ö", 257)), Err(E::TooLong)),
        ("an empty room name", Op::NewRoom(String::new()), Err(E::InvalidValue)),
        ("a room description of 256 characters", Op::NewRoomDescribed("Described", s("d", 256)), Ok(())),
        ("a room description of 257 characters", Op::NewRoomDescribed("Overdescribed", s("d", 257)), Err(E::TooLong)),
        ("a room description edited to 257", Op::DescribeRoom(s("d", 257)), Err(E::TooLong)),
        ("a category description of 256", Op::DescribeCategory(s("d", 256)), Ok(())),
        ("a category description of 257", Op::DescribeCategory(s("d", 257)), Err(E::TooLong)),
        ("an https add-in", Op::NewAddin("Quotes".into(), "https://quotes.example.org/".into()), Ok(())),
        ("an http add-in", Op::NewAddin("Plain".into(), "http://plain.example.org".into()), Ok(())),
        ("an ftp add-in", Op::NewAddin("Ftp".into(), "ftp://files.example.org".into()), Err(E::InvalidValue)),
        ("a javascript add-in", Op::NewAddin("Script".into(), "javascript:alert(1)".into()), Err(E::InvalidValue)),
        ("an add-in without a host", Op::NewAddin("Bare".into(), "https://".into()), Err(E::InvalidValue)),
        ("an add-in name of 50", Op::NewAddin(s("a", 50), "https://a.example.org".into()), Ok(())),
        ("an add-in name of 51", Op::NewAddin(s("b", 51), "https://b.example.org".into()), Err(E::TooLong)),
        ("an add-in URL over 255", Op::NewAddin("Long".into(), format!("https://x.org/{}", s("a", 250))), Err(E::TooLong)),
        ("an add-in named like another", Op::NewAddin("QUOTES".into(), "https://q2.example.org".into()), Err(E::NameTaken)),
        ("an add-in edited to ftp", Op::AddinUrl("Quotes", "ftp://quotes.example.org".into()), Err(E::InvalidValue)),
        ("a room with an unknown add-in", Op::RoomAddin("Nope"), Err(E::AddinNotFound)),
        ("a room with an add-in in another case", Op::RoomAddin("quotes"), Ok(())),
    ];
    for (what, op, expect) in cases {
        assert_eq!(check_name(&w, op).await, expect, "{what}");
    }
    // The refused changes left the names as they were.
    let names: Vec<String> = w.lh.list_categories(&w.system).expect("categories").into_iter().map(|c| c.name).collect();
    assert!(names.contains(&"Markets".to_owned()) && names.contains(&"Other".to_owned()), "{names:?}");
    assert_eq!(w.lh.find_room(&w.system, "rates").expect("the room").name, "RATES");
    let quotes = w.lh.list_addins().into_iter().find(|a| a.name == "Quotes").expect("the add-in");
    assert_eq!(quotes.url, "https://quotes.example.org/");
}

// ---------------------------------------------------------------------------------------------
// Policy: who may use chat at all.

#[tokio::test]
async fn without_a_global_policy_nobody_chats_but_administrators_sign_in() {
    let w = World::without_policy().await;
    let user = w.create_user(NewUser { login: "uma@corp.org".into(), ..Default::default() }).await;
    let admin = w.create_user(NewUser { login: "ada@corp.org".into(), admin: true, ..Default::default() }).await;
    #[rustfmt::skip]
    let cases = [
        ("a user", "uma@corp.org", PASSWORD, Err(E::PolicyDisabled)),
        ("an administrator", "ada@corp.org", PASSWORD, Ok(())),
        ("a wrong password", "uma@corp.org", "not the password", Err(E::InvalidCredentials)),
    ];
    for (what, login, password, expect) in cases {
        assert_eq!(outcome(&w.lh.sign_in(login, password, LOCAL).await), expect, "{what}");
    }
    let uma = w.actor(user.id);
    assert_eq!(outcome(&w.lh.connect(&uma)), Err(E::PolicyDisabled), "the user can't chat");
    let ada = w.actor(admin.id);
    assert!(!w.lh.me(&ada).policy.enable_persistent_chat);
    // The administrator administers but can't chat either.
    let cat = w.category("Ops", &["everyone"], &[], &[]).await;
    let room =
        w.lh.create_room(&ada, new_room("Ops room", &cat.name, Privacy::Open, &[])).await.expect("admin creates");
    assert_eq!(outcome(&w.lh.connect(&ada)), Err(E::PolicyDisabled));
    assert_eq!(outcome(&w.lh.post(&ada, room.id, text("hi"), None).await), Err(E::PolicyDisabled));
    // Turning the global policy on lets everyone in.
    w.put_policy("global", true).await;
    assert!(w.lh.sign_in("uma@corp.org", PASSWORD, LOCAL).await.is_ok());
    assert!(w.lh.post(&uma, room.id, text("hello"), None).await.is_ok());
    assert!(w.lh.post(&ada, room.id, text("hi"), None).await.is_ok());
}

struct PolicyCase {
    global: Option<bool>,
    site: Option<bool>,
    tag: Option<bool>,
    user_site: bool,
    user_tag: bool,
    enabled: bool,
    source: &'static str,
}

/// Each row is a deployment of its own: policies are deployment-wide.
async fn check_policy(n: usize, case: &PolicyCase) {
    let w = World::without_policy().await;
    for (scope, setting) in [("global", case.global), ("site:london", case.site), ("tag:pilot", case.tag)] {
        if let Some(on) = setting {
            w.put_policy(scope, on).await;
        }
    }
    let site = case.user_site.then(|| "london".to_owned());
    let u = w.create_user(NewUser { login: "uma@corp.org".into(), site, ..Default::default() }).await;
    if case.user_tag {
        let upd = UserUpdate { policy: Some("pilot".into()), ..Default::default() };
        w.lh.update_user(&w.system, "uma@corp.org", upd).await.expect("grant the tag policy");
    }
    match w.lh.sign_in("uma@corp.org", PASSWORD, LOCAL).await {
        Ok((_, me)) => {
            assert!(case.enabled, "row {n}: signed in");
            assert_eq!(me.policy.source, case.source, "row {n}");
        }
        Err(e) => {
            assert!(!case.enabled, "row {n}: refused: {e}");
            assert_eq!(e.code, E::PolicyDisabled, "row {n}");
            assert_eq!(w.lh.me(&w.account("uma@corp.org")).policy.source, case.source, "row {n}");
        }
    }
    let chat = w.lh.connect(&w.actor(u.id));
    assert_eq!(outcome(&chat), if case.enabled { Ok(()) } else { Err(E::PolicyDisabled) }, "row {n}: chat");
}

#[tokio::test]
async fn the_most_specific_policy_wins() {
    #[rustfmt::skip]
    let cases = [
        PolicyCase { global: None, site: None, tag: None, user_site: true, user_tag: false, enabled: false, source: "global" },
        PolicyCase { global: Some(true), site: None, tag: None, user_site: true, user_tag: false, enabled: true, source: "global" },
        PolicyCase { global: Some(true), site: Some(false), tag: None, user_site: true, user_tag: false, enabled: false, source: "site:london" },
        PolicyCase { global: Some(false), site: Some(true), tag: None, user_site: true, user_tag: false, enabled: true, source: "site:london" },
        PolicyCase { global: Some(true), site: Some(false), tag: None, user_site: false, user_tag: false, enabled: true, source: "global" },
        PolicyCase { global: Some(true), site: Some(false), tag: Some(true), user_site: true, user_tag: true, enabled: true, source: "tag:pilot" },
        PolicyCase { global: Some(true), site: Some(true), tag: Some(false), user_site: true, user_tag: true, enabled: false, source: "tag:pilot" },
        PolicyCase { global: None, site: None, tag: Some(true), user_site: false, user_tag: true, enabled: true, source: "tag:pilot" },
        PolicyCase { global: Some(false), site: None, tag: Some(true), user_site: true, user_tag: false, enabled: false, source: "global" },
    ];
    for (n, case) in cases.iter().enumerate() {
        check_policy(n, case).await;
    }
}

#[tokio::test]
async fn users_whose_policy_turns_off_are_refused_by_every_chat_service() {
    let w = World::new().await;
    let uma = w.user_at("uma@corp.org", "offsite").await;
    w.category_with(NewCategory {
        name: "Lounge".into(),
        file_upload: true,
        invitations: true,
        allowed_members: strings(&["everyone"]),
        creators: strings(&["everyone"]),
        ..Default::default()
    })
    .await;
    let room = w.lh.create_room(&uma, new_room("Lounge room", "Lounge", Privacy::Open, &[])).await.expect("create");
    w.say(&uma, room.id, "before").await;
    let body = futures_util::stream::iter([Ok(bytes::Bytes::from_static(b"file body"))]);
    let file = w.lh.upload(&uma, room.id, "notes.txt", "text/plain", Box::pin(body)).await.expect("upload");
    let mut live = w.connect(&uma);
    live.join(&w.lh, &[room.id]).await;
    let (token, _) = w.lh.sign_in("uma@corp.org", PASSWORD, LOCAL).await.expect("signed in while on");

    w.put_policy("site:offsite", false).await;

    // Her live connection leaves the room at once.
    assert_eq!(live.frames_of("kicked").len(), 1, "kicked when the policy turned off");
    assert!(!live.conn.is_joined(room.id));
    // Her token still says who she is, and why she can't chat.
    let uma = w.lh.authenticate(&token).await.expect("her token still authenticates");
    let policy = w.lh.me(&uma).policy;
    assert_eq!((policy.enable_persistent_chat, policy.source.as_str()), (false, "site:offsite"));
    let joined = {
        let target = vec![JoinTarget { room: room.id, after_seq: None }];
        w.lh.join(&uma, &live.conn, "again".into(), target, None).await
    };
    let body = futures_util::stream::iter([Ok(bytes::Bytes::from_static(b"more"))]);
    let upd = RoomUpdate { description: Some("still mine?".into()), ..Default::default() };
    #[rustfmt::skip]
    let refused = [
        ("sign_in", outcome(&w.lh.sign_in("uma@corp.org", PASSWORD, LOCAL).await)),
        ("connect", outcome(&w.lh.connect(&uma))),
        ("join", outcome(&joined)),
        ("post", outcome(&w.lh.post(&uma, room.id, text("after"), None).await)),
        ("submit_post", outcome(&w.lh.submit_post(&uma, room.id, text("after"), Some(&live.conn)).await)),
        ("history", outcome(&w.lh.history(&uma, room.id, HistoryQuery::Latest, None).await)),
        ("search_messages", outcome(&w.lh.search_messages(&uma, MessageSearch::default()).await)),
        ("set_follow", outcome(&w.lh.set_follow(&uma, room.id, true).await)),
        ("followed", outcome(&w.lh.followed(&uma).await)),
        ("invitations", outcome(&w.lh.invitations(&uma, 0, 10).await)),
        ("mark_read", outcome(&w.lh.mark_read(&uma, room.id, 1).await)),
        ("participants", outcome(&w.lh.participants(&uma, room.id))),
        ("create_room", outcome(&w.lh.create_room(&uma, new_room("Another", "Lounge", Privacy::Open, &[])).await)),
        ("update_room", outcome(&w.lh.update_room(&uma, room.id, upd).await)),
        ("upload_limit", outcome(&w.lh.upload_limit(&uma, room.id))),
        ("upload", outcome(&w.lh.upload(&uma, room.id, "more.txt", "text/plain", Box::pin(body)).await)),
        ("download", outcome(&w.lh.download(&uma, file.id).await)),
    ];
    for (service, got) in refused {
        assert_eq!(got, Err(E::PolicyDisabled), "{service}");
    }
    let history = w.lh.history(&w.system, room.id, HistoryQuery::Latest, None).await.expect("history");
    assert_eq!(history.messages.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(), ["before"], "nothing was posted");
    assert_eq!(w.room_as_admin(room.id).description, "", "nothing was changed");
    // A user-scope policy that enables chat beats the site's.
    w.put_policy("tag:pilot", true).await;
    w.lh.update_user(&w.system, "uma@corp.org", UserUpdate { policy: Some("pilot".into()), ..Default::default() })
        .await
        .expect("grant");
    let uma = w.actor(uma.id());
    assert!(w.lh.history(&uma, room.id, HistoryQuery::Latest, None).await.is_ok());
}

#[tokio::test]
async fn configuration_ranges_are_enforced_and_a_site_beats_global() {
    let w = World::new().await;
    let put = |f: fn(&mut ConfigPut)| {
        let mut p = ConfigPut::default();
        f(&mut p);
        p
    };
    #[rustfmt::skip]
    let cases = [
        ("history 0", "global", put(|p| p.default_chat_history = Some(0)), Err(E::InvalidValue)),
        ("history 501", "global", put(|p| p.default_chat_history = Some(501)), Err(E::InvalidValue)),
        ("history 1", "global", put(|p| p.default_chat_history = Some(1)), Ok(())),
        ("history 500", "global", put(|p| p.default_chat_history = Some(500)), Ok(())),
        ("site history 0", "site:london", put(|p| p.default_chat_history = Some(0)), Err(E::InvalidValue)),
        ("file size 0", "global", put(|p| p.max_file_size_kb = Some(0)), Err(E::InvalidValue)),
        ("update limit 0", "global", put(|p| p.participant_update_limit = Some(0)), Err(E::InvalidValue)),
        ("ftp management page", "global", put(|p| p.room_management_url = Some("ftp://x.example.org".into())), Err(E::InvalidValue)),
        ("https management page", "global", put(|p| p.room_management_url = Some("https://rooms.example.org".into())), Ok(())),
        ("tag scope", "tag:pilot", put(|p| p.default_chat_history = Some(10)), Err(E::InvalidValue)),
        ("unknown scope", "planet:mars", put(|p| p.default_chat_history = Some(10)), Err(E::InvalidValue)),
    ];
    for (what, scope, p, expect) in cases {
        let before = w.lh.list_configs(&w.system).expect("configs");
        let result = w.lh.put_config(&w.system, scope, p).await;
        assert_eq!(outcome(&result), expect, "{what}");
        if result.is_err() {
            assert_eq!(w.lh.list_configs(&w.system).expect("configs"), before, "{what}: nothing changed");
        }
    }

    // Backchat size: a site's configuration beats global for its users.
    let londoner = w.user_at("lena@corp.org", "london").await;
    let other = w.user("otto@corp.org").await;
    w.category("Everyone", &["everyone"], &[], &[]).await;
    let room = w.room(new_room("Busy", "Everyone", Privacy::Open, &[])).await;
    for i in 1..=10 {
        w.say(&other, room.id, &format!("m{i}")).await;
    }
    let config = |history: u32| ConfigPut { default_chat_history: Some(history), ..Default::default() };
    w.lh.put_config(&w.system, "global", config(5)).await.expect("global");
    w.lh.put_config(&w.system, "site:london", config(3)).await.expect("site");
    let backchat = async |who: &longhall_core::Actor| {
        let page = w.lh.history(who, room.id, HistoryQuery::Latest, None).await.expect("history");
        let mut live = w.connect(who);
        let joined = live.join(&w.lh, &[room.id]).await;
        (page.messages.len(), joined["rooms"][0]["messages"].as_array().map_or(0, Vec::len))
    };
    assert_eq!(backchat(&londoner).await, (3, 3), "the site's configuration");
    assert_eq!(w.lh.me(&londoner).config.source, "site:london");
    assert_eq!(backchat(&other).await, (5, 5), "global configuration");
    w.lh.delete_config(&w.system, "site:london").await.expect("remove the site configuration");
    assert_eq!(backchat(&londoner).await, (5, 5), "back to global");
}

// ---------------------------------------------------------------------------------------------
// Invitations.

struct InviteCase {
    category_on: bool,
    room: RoomInvitations,
    disabled: bool,
    invited: bool,
}

/// Adds alice to a new room set up as the row says; returns her newest invitation id.
async fn check_invite(w: &World, live: &mut Live, n: usize, case: &InviteCase, seen: i64) -> i64 {
    let alice = &live.actor;
    let category = if case.category_on { "Invites on" } else { "Invites off" };
    let new = NewRoom { invitations: case.room, ..new_room(&format!("Invite {n}"), category, Privacy::Closed, &[]) };
    let room = w.room(new).await;
    assert_eq!(room.invitations_active, case.category_on && case.room == RoomInvitations::Inherit, "row {n}");
    if case.disabled {
        w.update_room(room.id, RoomUpdate { disabled: Some(true), ..Default::default() }).await;
    }
    w.update_room(room.id, RoomUpdate { members: Some(add(&["user:alice@corp.org"])), ..Default::default() }).await;
    let stored = w.lh.invitations(alice, seen, 100).await.expect("invitations");
    let pushed = live.frames_of("invitation");
    if !case.invited {
        assert!(stored.is_empty() && pushed.is_empty(), "row {n}: no invitation: {stored:?} {pushed:?}");
        return seen;
    }
    assert_eq!(stored.len(), 1, "row {n}: one invitation stored");
    assert_eq!((stored[0].room, stored[0].room_name.as_str()), (room.id, room.name.as_str()), "row {n}");
    assert_eq!(pushed.len(), 1, "row {n}: pushed live");
    assert_eq!(pushed[0]["id"], stored[0].id, "row {n}");
    assert_eq!(pushed[0]["room"], room.id, "row {n}");
    stored[0].id
}

#[tokio::test]
async fn invitations_go_to_newly_entitled_users_when_active() {
    let w = corp().await;
    let on = NewCategory {
        name: "Invites on".into(),
        invitations: true,
        allowed_members: strings(&["everyone"]),
        ..Default::default()
    };
    w.category_with(on.clone()).await;
    w.category_with(NewCategory { name: "Invites off".into(), invitations: false, ..on }).await;
    let alice = w.actor_of("alice@corp.org");
    let mut live = w.connect(&alice);
    #[rustfmt::skip]
    let cases = [
        InviteCase { category_on: true, room: RoomInvitations::Inherit, disabled: false, invited: true },
        InviteCase { category_on: true, room: RoomInvitations::Off, disabled: false, invited: false },
        InviteCase { category_on: false, room: RoomInvitations::Inherit, disabled: false, invited: false },
        InviteCase { category_on: false, room: RoomInvitations::Off, disabled: false, invited: false },
        InviteCase { category_on: true, room: RoomInvitations::Inherit, disabled: true, invited: false },
    ];
    let mut seen = 0;
    for (n, case) in cases.iter().enumerate() {
        seen = check_invite(&w, &mut live, n, case, seen).await;
    }

    // Only newly entitled users: desk (alice) first, then traders (desk and bob).
    w.add_to_group("traders", &["user:bob@corp.org"]).await;
    let room = w.room(new_room("Invite groups", "Invites on", Privacy::Closed, &["group:desk"])).await;
    let bob = w.actor_of("bob@corp.org");
    let newer = async |who: &longhall_core::Actor, after: i64| -> Vec<i64> {
        let list = w.lh.invitations(who, after, 100).await.expect("invitations");
        list.into_iter().filter(|i| i.room == room.id).map(|i| i.id).collect()
    };
    assert_eq!(newer(&alice, seen).await.len(), 1, "alice invited when the room was created with her group");
    assert!(newer(&bob, 0).await.is_empty());
    let alice_last = w.lh.invitations(&alice, 0, 100).await.expect("invitations").last().map_or(0, |i| i.id);
    w.update_room(room.id, RoomUpdate { members: Some(add(&["group:traders"])), ..Default::default() }).await;
    assert_eq!(newer(&bob, 0).await.len(), 1, "bob is newly entitled through traders");
    assert!(newer(&alice, alice_last).await.is_empty(), "alice was entitled already");
    w.update_room(room.id, RoomUpdate { members: Some(add(&["user:alice@corp.org"])), ..Default::default() }).await;
    assert!(newer(&alice, alice_last).await.is_empty(), "naming alice again entitles nobody new");

    // Ids are per user and increase; "newer than N" returns only the later ones.
    let all = w.lh.invitations(&alice, 0, 100).await.expect("invitations");
    assert!(all.windows(2).all(|p| p[0].id < p[1].id), "{all:?}");
    let later = w.lh.invitations(&alice, all[0].id, 100).await.expect("invitations");
    assert_eq!(later.len(), all.len() - 1);
    let carol = w.actor_of("carol@partner.org");
    let room = w.room(new_room("Invite carol", "Invites on", Privacy::Closed, &["user:carol@partner.org"])).await;
    let carols = w.lh.invitations(&carol, 0, 100).await.expect("invitations");
    assert_eq!(carols.iter().map(|i| (i.id, i.room)).collect::<Vec<_>>(), [(1, room.id)], "her own numbering");
}

// ---------------------------------------------------------------------------------------------
// Kick: losing access removes a live connection from the room at once.

#[derive(Debug, Clone, Copy)]
enum Kick {
    RemoveMemberAsAdmin,
    RemoveMemberAsManager,
    RemoveFromGroup,
    UnlinkNestedGroup,
    DenyUserInCategory,
    DenyGroupInCategory,
    /// Her group is put inside a group the category denies.
    JoinDeniedGroup,
    DisableUser,
    SitePolicyOff,
    CloseOpenRoom,
    DisableRoom,
    DeleteRoom,
    /// Control row: a change that keeps her access.
    Rename,
}

struct KickCase {
    action: Kick,
    privacy: Privacy,
    members: &'static [&'static str],
    /// The frame alice's connection gets.
    frame: &'static str,
}

async fn check_kick(case: &KickCase) {
    let what = format!("{:?}", case.action);
    let w = World::new().await;
    let alice = w.user_at("alice@corp.org", "paris").await;
    let bob = w.user("bob@corp.org").await;
    w.user("mallory@corp.org").await;
    w.group("desk", &["user:alice@corp.org"]).await;
    w.group("traders", &["group:desk"]).await;
    w.group("front", &["group:traders"]).await;
    w.group("blocked", &[]).await;
    w.category("Floor", &["everyone"], &["group:blocked"], &[]).await;
    let mut new = new_room("Floor room", "Floor", case.privacy, case.members);
    new.managers = strings(&["user:mallory@corp.org"]);
    let room = w.room(new).await.id;
    let mut a = w.connect(&alice);
    let mut b = w.connect(&bob);
    a.join(&w.lh, &[room]).await;
    b.join(&w.lh, &[room]).await;
    a.frames();
    b.frames();
    let parts_before = w.parts("alice@corp.org", room).await;
    let mallory = w.actor_of("mallory@corp.org");
    let edit_members = |e| RoomUpdate { members: Some(e), ..Default::default() };
    match case.action {
        Kick::RemoveMemberAsAdmin => {
            w.update_room(room, edit_members(remove(&["user:alice@corp.org"]))).await;
        }
        Kick::RemoveMemberAsManager => {
            w.lh.update_room(&mallory, room, edit_members(remove(&["user:alice@corp.org"]))).await.expect("edit");
        }
        Kick::RemoveFromGroup => w.set_group("desk", &[]).await,
        Kick::UnlinkNestedGroup => w.set_group("traders", &[]).await,
        Kick::DenyUserInCategory => {
            let upd = CategoryUpdate { denied_members: Some(add(&["user:alice@corp.org"])), ..Default::default() };
            w.update_category("Floor", upd).await;
        }
        Kick::DenyGroupInCategory => {
            let upd = CategoryUpdate { denied_members: Some(add(&["group:front"])), ..Default::default() };
            w.update_category("Floor", upd).await;
        }
        Kick::JoinDeniedGroup => w.add_to_group("blocked", &["group:desk"]).await,
        Kick::DisableUser => {
            let upd = UserUpdate { disabled: Some(true), ..Default::default() };
            w.lh.update_user(&w.system, "alice@corp.org", upd).await.expect("disable");
        }
        Kick::SitePolicyOff => w.put_policy("site:paris", false).await,
        Kick::CloseOpenRoom => {
            let upd = RoomUpdate { privacy: Some(Privacy::Closed), ..Default::default() };
            w.lh.update_room(&mallory, room, upd).await.expect("close the room");
        }
        Kick::DisableRoom => {
            let upd = RoomUpdate { disabled: Some(true), ..Default::default() };
            w.lh.update_room(&mallory, room, upd).await.expect("disable the room");
        }
        Kick::DeleteRoom => w.lh.delete_room(&w.system, room).await.expect("delete"),
        Kick::Rename => {
            let upd = RoomUpdate { name: Some("Floor room, renamed".into()), ..Default::default() };
            w.lh.update_room(&mallory, room, upd).await.expect("rename");
        }
    }
    let stays = matches!(case.action, Kick::Rename);
    let frames = a.frames_of(case.frame);
    assert_eq!(frames.len(), 1, "{what}: alice gets one {} frame", case.frame);
    let room_of =
        |f: &serde_json::Value| if f["room"].is_object() { f["room"]["id"].clone() } else { f["room"].clone() };
    assert_eq!(room_of(&frames[0]), room, "{what}");
    assert_eq!(a.conn.is_joined(room), stays, "{what}: still joined?");
    assert_eq!(w.parts("alice@corp.org", room).await, parts_before + usize::from(!stays), "{what}: PART recorded");
    let left = b.frames_of("participant_left");
    match case.action {
        Kick::Rename => assert!(left.is_empty(), "{what}"),
        Kick::DisableRoom | Kick::DeleteRoom => assert!(!b.conn.is_joined(room), "{what}: everyone leaves"),
        _ => {
            assert!(b.conn.is_joined(room), "{what}: bob stays");
            assert_eq!(left.len(), 1, "{what}: bob sees alice leave");
            assert_eq!(left[0]["participant"]["login"], "alice@corp.org");
        }
    }
    if matches!(case.action, Kick::DisableUser) {
        assert!(a.conn.is_closing(), "{what}: her connection closes");
        assert_eq!(a.conn.closing().await.code, E::AccountDisabled);
    } else {
        let alice = w.lh.current_actor(alice.id()).unwrap_or(alice);
        let posted = w.lh.post(&alice, room, text("still here?"), Some(&a.conn)).await;
        assert_eq!(posted.is_ok(), stays, "{what}: posting on the connection: {posted:?}");
    }
}

#[tokio::test]
async fn losing_access_removes_a_live_connection_from_the_room_at_once() {
    use Privacy::{Closed, Open};
    let direct: &[&str] = &["user:alice@corp.org", "user:bob@corp.org"];
    let grouped: &[&str] = &["group:front", "user:bob@corp.org"];
    #[rustfmt::skip]
    let cases = [
        KickCase { action: Kick::RemoveMemberAsAdmin, privacy: Closed, members: direct, frame: "kicked" },
        KickCase { action: Kick::RemoveMemberAsManager, privacy: Closed, members: direct, frame: "kicked" },
        KickCase { action: Kick::RemoveFromGroup, privacy: Closed, members: grouped, frame: "kicked" },
        KickCase { action: Kick::UnlinkNestedGroup, privacy: Closed, members: grouped, frame: "kicked" },
        KickCase { action: Kick::DenyUserInCategory, privacy: Closed, members: direct, frame: "kicked" },
        KickCase { action: Kick::DenyGroupInCategory, privacy: Open, members: &[], frame: "kicked" },
        KickCase { action: Kick::JoinDeniedGroup, privacy: Closed, members: grouped, frame: "kicked" },
        KickCase { action: Kick::DisableUser, privacy: Closed, members: direct, frame: "kicked" },
        KickCase { action: Kick::SitePolicyOff, privacy: Closed, members: grouped, frame: "kicked" },
        KickCase { action: Kick::CloseOpenRoom, privacy: Open, members: &["user:bob@corp.org"], frame: "kicked" },
        KickCase { action: Kick::DisableRoom, privacy: Closed, members: direct, frame: "room_disabled" },
        KickCase { action: Kick::DeleteRoom, privacy: Closed, members: direct, frame: "room_deleted" },
        KickCase { action: Kick::Rename, privacy: Closed, members: grouped, frame: "room_changed" },
    ];
    for case in &cases {
        check_kick(case).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Administrators' content actions.

fn by_seq(seq: i64, replacement: Option<String>) -> RemoveMessages {
    RemoveMessages { seqs: vec![seq], replacement, ..Default::default() }
}

#[tokio::test]
async fn only_administrators_replace_remove_and_clear_messages() {
    let w = World::new().await;
    let alice = w.user("alice@corp.org").await;
    let mallory = w.user("mallory@corp.org").await;
    let ada = w.admin_user("ada@corp.org").await;
    w.category("Floor", &["everyone"], &[], &[]).await;
    let mut new = new_room("Floor room", "Floor", Privacy::Open, &[]);
    new.managers = strings(&["user:mallory@corp.org"]);
    let room = w.room(new).await.id;
    for i in 1..=5 {
        w.say(&alice, room, &format!("message {i}")).await;
    }
    // A reader who joined before the change, so the recent messages are cached.
    let mut early = w.connect(&alice);
    early.join(&w.lh, &[room]).await;

    #[rustfmt::skip]
    let refused = [
        ("the author removes her message", outcome(&w.lh.remove_messages(&alice, room, by_seq(1, None)).await)),
        ("the author replaces her message", outcome(&w.lh.remove_messages(&alice, room, by_seq(1, Some("oops".into()))).await)),
        ("a manager removes a message", outcome(&w.lh.remove_messages(&mallory, room, by_seq(2, None)).await)),
        ("the author clears the room", outcome(&w.lh.clear_room(&alice, room, w.lh.now()).await)),
        ("a manager clears the room", outcome(&w.lh.clear_room(&mallory, room, w.lh.now()).await)),
    ];
    for (what, got) in refused {
        assert_eq!(got, Err(E::AdminRequired), "{what}");
    }
    let texts = async || -> Vec<(i64, String, bool)> {
        let page = w.lh.history(&alice, room, HistoryQuery::Latest, None).await.expect("history");
        page.messages.into_iter().map(|m| (m.seq, m.text, m.replaced)).collect()
    };
    assert_eq!(texts().await.len(), 5, "nothing changed");

    w.lh.remove_messages(&ada, room, by_seq(2, Some("[redacted]".into()))).await.expect("replace");
    w.lh.remove_messages(&ada, room, by_seq(3, None)).await.expect("remove");
    let missing = w.lh.remove_messages(&ada, room, by_seq(99, None)).await;
    assert_eq!(outcome(&missing), Err(E::MessageNotFound));
    let removed = texts().await[2].1.clone();
    assert_eq!(removed, DEFAULT_REPLACEMENT, "the default notice");
    let want = vec![
        (1, "message 1".to_owned(), false),
        (2, "[redacted]".to_owned(), true),
        (3, removed.clone(), true),
        (4, "message 4".to_owned(), false),
        (5, "message 5".to_owned(), false),
    ];
    assert_eq!(texts().await, want, "history shows the replaced text");
    let mut late = w.connect(&alice);
    let joined = late.join(&w.lh, &[room]).await;
    let backchat: Vec<String> = joined["rooms"][0]["messages"]
        .as_array()
        .expect("backchat")
        .iter()
        .map(|m| m["text"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(backchat, want.iter().map(|m| m.1.clone()).collect::<Vec<_>>(), "a new join sees it too");

    let cleared = w.lh.clear_room(&ada, room, w.lh.now()).await.expect("clear");
    assert_eq!(cleared.count, 5);
    assert!(texts().await.is_empty(), "cleared messages are gone");
    let next = w.say(&alice, room, "after the clear").await;
    assert_eq!(next.seq, 6, "numbering continues");
    assert_eq!(texts().await, [(6, "after the clear".to_owned(), false)]);
    let mut after = w.connect(&alice);
    let joined = after.join(&w.lh, &[room]).await;
    assert_eq!(joined["rooms"][0]["messages"].as_array().map(Vec::len), Some(1));
}

// ---------------------------------------------------------------------------------------------
// Deleting categories.

#[tokio::test]
async fn a_category_is_deleted_only_when_empty_and_only_by_administrators() {
    let w = World::new().await;
    let alice = w.user("alice@corp.org").await;
    w.category("Full", &["everyone"], &[], &[]).await;
    w.category("Empty", &["everyone"], &[], &[]).await;
    w.category("Moved from", &["everyone"], &[], &[]).await;
    w.category("Deleted from", &["everyone"], &[], &[]).await;
    w.room(new_room("Stays", "Full", Privacy::Open, &[])).await;
    let moved = w.room(new_room("Moves", "Moved from", Privacy::Open, &[])).await.id;
    let deleted = w.room(new_room("Goes", "Deleted from", Privacy::Open, &[])).await.id;
    w.update_room(moved, RoomUpdate { category: Some("Full".into()), ..Default::default() }).await;
    w.lh.delete_room(&w.system, deleted).await.expect("delete room");
    #[rustfmt::skip]
    let cases = [
        ("a category with a room", &w.system, "Full", Err(E::CategoryNotEmpty)),
        ("by a user", &alice, "Empty", Err(E::AdminRequired)),
        ("an empty category", &w.system, "Empty", Ok(())),
        ("emptied by a move", &w.system, "Moved from", Ok(())),
        ("emptied by deleting its room", &w.system, "Deleted from", Ok(())),
        ("one that is gone", &w.system, "Empty", Err(E::CategoryNotFound)),
    ];
    for (what, who, name, expect) in cases {
        assert_eq!(outcome(&w.lh.delete_category(who, name).await), expect, "{what}");
    }
    let left: Vec<String> = w.lh.list_categories(&w.system).expect("list").into_iter().map(|c| c.name).collect();
    assert_eq!(left, ["Full"]);
    assert_eq!(w.lh.find_room(&w.system, "Stays").expect("the room survives").category, "Full");
}

// ---------------------------------------------------------------------------------------------
// First start.

#[tokio::test]
async fn first_start_sets_up_a_new_deployment_once() {
    let w = World::without_policy().await;
    let first = w.lh.first_start("root@example.org", Some("a good password".into())).await.expect("first start");
    let first = first.expect("the first start does its work");
    assert_eq!(first.admin_login, "root@example.org");
    assert_eq!(first.generated_password, None, "the given password is used");
    let (_, me) = w.lh.sign_in("root@example.org", "a good password", LOCAL).await.expect("the admin signs in");
    assert!(me.user.admin && me.policy.enable_persistent_chat && me.policy.source == "global");
    // A first user chats at once in the Lobby.
    let u = w.user("first@example.org").await;
    let lobby = w.lh.find_room(&u, "Lobby").expect("the Lobby");
    assert_eq!((lobby.category.as_str(), lobby.privacy), ("General", Privacy::Open));
    assert!(w.finds(&u, "General", lobby.id).await);
    w.say(&u, lobby.id, "hello").await;
    // Later starts do nothing, even with another login.
    assert_eq!(w.lh.first_start("root@example.org", None).await.expect("second call"), None);
    assert_eq!(w.lh.first_start("other@example.org", None).await.expect("third call"), None);
    assert_eq!(outcome(&w.lh.get_user(&w.system, "other@example.org")), Err(E::UserNotFound));
    let categories = w.lh.list_categories(&w.system).expect("categories");
    assert_eq!(categories.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["General"]);
    let page = w.lh.search_rooms(&w.system, &Default::default()).await;
    assert_eq!(page.expect("rooms").items.len(), 1, "one Lobby");
    // Without a password, one is generated and works.
    let fresh = World::without_policy().await;
    let made = fresh.lh.first_start("root@example.org", None).await.expect("first start").expect("did its work");
    let password = made.generated_password.expect("a generated password");
    assert!(fresh.lh.sign_in("root@example.org", &password, LOCAL).await.is_ok());
}

#[tokio::test]
async fn domains_list_the_directory_with_user_counts_for_admins_only() {
    let w = World::new().await;
    let alice = w.user("alice@example.org").await;
    w.user("bob@example.org").await;
    w.user("carol@other.org").await;
    let domains = w.lh.list_domains(&w.system).expect("domains");
    let listed: Vec<(&str, u32)> = domains.iter().map(|d| (d.domain.as_str(), d.users)).collect();
    assert_eq!(listed, [("example.org", 2), ("other.org", 1)]);
    assert_eq!(outcome(&w.lh.list_domains(&alice)), Err(E::AdminRequired));
}

#[tokio::test]
async fn an_account_without_password_uses_api_tokens_only() {
    let w = World::new().await;
    let bot = NewUser { login: "bot@example.org".into(), password: None, ..Default::default() };
    w.lh.create_user(&w.system, bot).await.expect("created without a password");
    // No password matches it, not even an empty one.
    for tried in ["", "anything at all"] {
        assert_eq!(outcome(&w.lh.sign_in("bot@example.org", tried, LOCAL).await), Err(E::InvalidCredentials));
    }
    let token = w.lh.create_api_token(&w.system, Some("bot@example.org"), "feeds").await.expect("token");
    let me = w.lh.authenticate(&token.token).await.expect("the token authenticates");
    assert_eq!(me.user.login, "bot@example.org");
}

#[tokio::test]
async fn live_connections_stop_at_the_configured_limit_and_free_up_on_disconnect() {
    let w = World::with_settings(longhall_core::Settings { max_connections: 2, ..Default::default() }).await;
    let lh = w.lh.clone();
    let system = longhall_core::Actor::system();
    lh.put_policy(
        &system,
        "global",
        longhall_types::api::PolicyPut { enable_persistent_chat: true, description: String::new() },
    )
    .await
    .expect("policy");
    let (first, _rx1) = lh.connect(&system).expect("first");
    let (_second, _rx2) = lh.connect(&system).expect("second");
    assert_eq!(outcome(&lh.connect(&system)), Err(E::ServerFull), "the third is refused");
    lh.disconnect(&first, "left").await;
    assert!(lh.connect(&system).is_ok(), "a freed slot can be used again");
}

// ---------------------------------------------------------------------------------------------
// Choosing the messages to remove (Remove-CsPersistentChatMessage's selectors).

#[tokio::test]
async fn removal_selects_by_author_time_and_keywords_and_joined_clients_see_it() {
    let w = World::new().await;
    let alice = w.user("alice@corp.org").await;
    let bob = w.user("bob@corp.org").await;
    let ada = w.admin_user("ada@corp.org").await;
    w.category("Floor", &["everyone"], &[], &[]).await;
    let room = w.room(new_room("Desk", "Floor", Privacy::Open, &[])).await.id;
    let said = [
        (&alice, "Merger plan for Q3"),
        (&bob, "the MERGER is off"),
        (&alice, "lunch plan"),
        (&bob, "plan for the merger: done"),
        (&alice, "nothing to see"),
    ];
    let mut ts = Vec::new();
    for (who, words) in said {
        ts.push(w.say(who, room, words).await.ts);
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    let mut reader = w.connect(&alice);
    reader.join(&w.lh, &[room]).await;
    let select = |keywords: &str, mode: KeywordMatch, case_sensitive: bool| RemoveMessages {
        keywords: Some(keywords.into()),
        match_mode: mode,
        case_sensitive,
        dry_run: true,
        ..Default::default()
    };
    let seqs = |r: &RemovedMessages| r.messages.iter().map(|m| m.seq).collect::<Vec<_>>();
    #[rustfmt::skip]
    let cases: [(&str, RemoveMessages, Vec<i64>); 9] = [
        ("all keywords, any case", select("merger plan", KeywordMatch::All, false), vec![1, 4]),
        ("any keyword", select("merger lunch", KeywordMatch::Any, false), vec![1, 2, 3, 4]),
        ("the exact phrase", select("plan  for", KeywordMatch::Phrase, false), vec![1, 4]),
        ("the phrase in order only", select("merger plan", KeywordMatch::Phrase, false), vec![1]),
        ("case-sensitive", select("MERGER", KeywordMatch::All, true), vec![2]),
        ("by author", RemoveMessages { author: Some("bob@corp.org".into()), dry_run: true, ..Default::default() }, vec![2, 4]),
        ("a time range, both ends inclusive",
            RemoveMessages { from: Some(ts[1]), to: Some(ts[3]), dry_run: true, ..Default::default() }, vec![2, 3, 4]),
        ("author and keywords together",
            RemoveMessages { author: Some("alice@corp.org".into()), ..select("plan", KeywordMatch::All, false) }, vec![1, 3]),
        ("sequence numbers and keywords",
            RemoveMessages { seqs: vec![2, 3, 4], ..select("merger", KeywordMatch::All, false) }, vec![2, 4]),
    ];
    for (what, req, want) in cases {
        let got = w.lh.remove_messages(&ada, room, req).await.expect(what);
        assert!(got.dry_run, "{what}");
        assert_eq!((seqs(&got), got.count), (want.clone(), want.len() as u64), "{what}");
    }
    assert!(reader.frames().is_empty(), "a dry run changes nothing and tells no one");

    #[rustfmt::skip]
    let refused = [
        ("no selector", RemoveMessages::default(), E::InvalidValue),
        ("blank keywords only", RemoveMessages { keywords: Some("  ".into()), ..Default::default() }, E::InvalidValue),
        ("replace and delete", RemoveMessages { seqs: vec![1], replacement: Some("x".into()), delete: true, ..Default::default() }, E::InvalidValue),
        ("a backwards range", RemoveMessages { from: Some(ts[3]), to: Some(ts[1]), ..Default::default() }, E::InvalidValue),
        ("an unknown author", RemoveMessages { author: Some("nobody@corp.org".into()), ..Default::default() }, E::UserNotFound),
        ("too many keywords", RemoveMessages { keywords: Some("x".repeat(1025)), ..Default::default() }, E::TooLong),
    ];
    for (what, req, code) in refused {
        assert_eq!(outcome(&w.lh.remove_messages(&ada, room, req).await), Err(code), "{what}");
    }

    let replaced = w.lh.remove_messages(&ada, room, select("merger", KeywordMatch::All, false).with_run()).await;
    let replaced = replaced.expect("replace");
    assert_eq!((replaced.count, replaced.dry_run), (3, false));
    assert_eq!(replaced.messages[0].text, "Merger plan for Q3", "the answer shows the messages as they were");
    let live = reader.frames_of("messages_replaced");
    assert_eq!(live.len(), 1, "one frame per batch");
    assert_eq!(live[0]["room"], room);
    let live_seqs: Vec<i64> =
        live[0]["messages"].as_array().unwrap().iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    assert_eq!(live_seqs, vec![1, 2, 4]);
    assert!(
        live[0]["messages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["text"] == DEFAULT_REPLACEMENT && m["replaced"] == true)
    );

    let deleted = RemoveMessages {
        author: Some("alice@corp.org".into()),
        keywords: Some("lunch".into()),
        delete: true,
        ..Default::default()
    };
    assert_eq!(w.lh.remove_messages(&ada, room, deleted).await.expect("delete").count, 1);
    assert_eq!(
        reader.frames_of("messages_removed"),
        vec![serde_json::json!({ "type": "messages_removed", "room": room, "seqs": [3] })]
    );
    let page = w.lh.history(&alice, room, HistoryQuery::Latest, None).await.expect("history");
    let now: Vec<(i64, &str)> = page.messages.iter().map(|m| (m.seq, m.text.as_str())).collect();
    assert_eq!(
        now,
        vec![(1, DEFAULT_REPLACEMENT), (2, DEFAULT_REPLACEMENT), (4, DEFAULT_REPLACEMENT), (5, "nothing to see")]
    );

    // The compliance record keeps every original.
    let events = w.compliance().await;
    let originals: Vec<(&str, Option<i64>, &str)> = events
        .iter()
        .filter(|e| e.kind == "MESSAGE_REPLACED" || e.kind == "MESSAGE_REMOVED")
        .map(|e| (e.kind.as_str(), e.seq, e.detail["original"].as_str().unwrap_or_default()))
        .collect();
    assert_eq!(
        originals,
        vec![
            ("MESSAGE_REPLACED", Some(1), "Merger plan for Q3"),
            ("MESSAGE_REPLACED", Some(2), "the MERGER is off"),
            ("MESSAGE_REPLACED", Some(4), "plan for the merger: done"),
            ("MESSAGE_REMOVED", Some(3), "lunch plan"),
        ]
    );
}

trait Run {
    fn with_run(self) -> Self;
}

impl Run for RemoveMessages {
    /// The same selection, applied for real.
    fn with_run(self) -> Self {
        RemoveMessages { dry_run: false, ..self }
    }
}

#[tokio::test]
async fn large_rooms_are_changed_and_cleared_in_batches() {
    let w = World::new().await;
    let alice = w.user("alice@corp.org").await;
    let ada = w.admin_user("ada@corp.org").await;
    w.category("Floor", &["everyone"], &[], &[]).await;
    let room = w.room(new_room("Busy", "Floor", Privacy::Open, &[])).await.id;
    let total = 2 * CONTENT_BATCH as i64 + 100;
    for i in 1..=total {
        let words = if i % 10 == 0 { format!("tick {i} flagged") } else { format!("tick {i}") };
        w.say(&alice, room, &words).await;
    }
    let mut reader = w.connect(&alice);
    reader.join(&w.lh, &[room]).await;

    let req = RemoveMessages { keywords: Some("flagged".into()), ..Default::default() };
    let changed = w.lh.remove_messages(&ada, room, req).await.expect("replace");
    assert_eq!(changed.count, total as u64 / 10, "matches in every batch");
    assert_eq!(changed.messages.len(), 100, "the answer lists at most 100");
    let frames = reader.frames_of("messages_replaced");
    assert_eq!(frames.len(), 3, "one live frame per batch of {CONTENT_BATCH}");

    let cleared = w.lh.clear_room(&ada, room, w.lh.now()).await.expect("clear");
    assert_eq!(cleared.count, total as u64);
    assert_eq!(reader.frames_of("room_cleared").len(), 1, "one frame when the clear is done");
    let batches: Vec<i64> = w
        .compliance()
        .await
        .iter()
        .filter(|e| e.kind == "ROOM_CLEARED")
        .map(|e| e.detail["count"].as_i64().unwrap_or_default())
        .collect();
    assert_eq!(batches, vec![CONTENT_BATCH as i64, CONTENT_BATCH as i64, 100], "one record per batch");
    let page = w.lh.history(&alice, room, HistoryQuery::Latest, None).await.expect("history");
    assert!(page.messages.is_empty());
}

#[tokio::test]
async fn clearing_up_to_a_time_keeps_later_messages() {
    let w = World::new().await;
    let alice = w.user("alice@corp.org").await;
    let ada = w.admin_user("ada@corp.org").await;
    w.category("Floor", &["everyone"], &[], &[]).await;
    let room = w.room(new_room("Desk", "Floor", Privacy::Open, &[])).await.id;
    let mut ts = Vec::new();
    for words in ["old", "older", "newer"] {
        ts.push(w.say(&alice, room, words).await.ts);
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    let mut reader = w.connect(&alice);
    reader.join(&w.lh, &[room]).await;
    assert_eq!(w.lh.count_clearable(&ada, room, ts[1]).await.expect("what if").count, 2);
    assert_eq!(outcome(&w.lh.count_clearable(&alice, room, ts[1]).await), Err(E::AdminRequired));
    assert!(reader.frames().is_empty(), "counting changes nothing");
    let cleared = w.lh.clear_room(&ada, room, ts[1]).await.expect("clear");
    assert_eq!(cleared.count, 2, "up to and including the time");
    assert_eq!(
        reader.frames_of("room_cleared"),
        vec![serde_json::json!({ "type": "room_cleared", "room": room, "up_to": ts[1] })]
    );
    let page = w.lh.history(&alice, room, HistoryQuery::Latest, None).await.expect("history");
    assert_eq!(page.messages.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(), vec!["newer"]);
}

// ---------------------------------------------------------------------------------------------
// The usage report (ChatUsageReport).

#[tokio::test]
async fn the_usage_report_ranks_rooms_and_users_of_a_known_history() {
    let w = World::new().await;
    let alice = w.user("alice@corp.org").await;
    let bob = w.user("bob@corp.org").await;
    w.user("carol@corp.org").await;
    w.user("dave@corp.org").await;
    let disable = UserUpdate { disabled: Some(true), ..Default::default() };
    w.lh.update_user(&w.system, "dave@corp.org", disable).await.expect("disable dave");
    let ada = w.admin_user("ada@corp.org").await;
    w.category("Floor", &["everyone"], &[], &[]).await;
    let busy = w.room(new_room("Busy", "Floor", Privacy::Open, &[])).await.id;
    let quiet = w.room(new_room("Quiet", "Floor", Privacy::Open, &[])).await.id;
    w.room(new_room("Silent", "Floor", Privacy::Secret, &[])).await;
    let start = w.lh.now();
    for (who, room) in [(&alice, busy), (&bob, busy), (&alice, busy), (&bob, quiet)] {
        w.say(who, room, "hello").await;
    }
    let q = |top: Option<u32>| UsageQuery { top, ..Default::default() };
    let r = w.lh.usage_report(&ada, q(None)).await.expect("report");
    assert_eq!(
        r.totals,
        UsageTotals { messages: 4, rooms: 3, rooms_enabled: 3, rooms_active: 2, users: 5, users_active: 2 },
        "users: alice, bob, carol, dave and ada"
    );
    let rooms = |list: &[RoomActivity]| list.iter().map(|r| (r.name.clone(), r.messages)).collect::<Vec<_>>();
    let users = |list: &[UserActivity]| list.iter().map(|u| (u.login.clone(), u.messages)).collect::<Vec<_>>();
    let pair = |n: &str, c: u64| (n.to_owned(), c);
    assert_eq!(rooms(&r.most_active_rooms), vec![pair("Busy", 3), pair("Quiet", 1)], "silent rooms are left out");
    assert_eq!(rooms(&r.least_active_rooms), vec![pair("Silent", 0), pair("Quiet", 1), pair("Busy", 3)]);
    assert_eq!(users(&r.most_active_users), vec![pair("alice@corp.org", 2), pair("bob@corp.org", 2)], "ties by login");
    assert_eq!(
        users(&r.least_active_users),
        vec![pair("ada@corp.org", 0), pair("carol@corp.org", 0), pair("alice@corp.org", 2), pair("bob@corp.org", 2)],
        "enabled users only"
    );
    assert_eq!(rooms(&r.inactive_rooms), vec![pair("Silent", 0)], "without a date: rooms never posted to");
    let today = r.per_day.last().expect("a day").period.clone();
    assert_eq!((r.per_day.len(), r.per_day[0].messages), (1, 4));
    assert_eq!((r.per_week.len(), r.per_week[0].messages), (1, 4));
    assert_eq!(r.per_month, vec![PeriodCount { period: today[..7].to_owned(), messages: 4 }]);
    assert!(r.per_week[0].period <= today, "a week is named by its Monday");

    let top1 = w.lh.usage_report(&ada, q(Some(1))).await.expect("report");
    assert_eq!(
        (rooms(&top1.most_active_rooms), users(&top1.most_active_users)),
        (vec![pair("Busy", 3)], vec![pair("alice@corp.org", 2)])
    );
    // A period after the posts: nothing counted, every room inactive since its start.
    let later = w.lh.now() + 1;
    let after = UsageQuery { since: Some(later), until: Some(later + 1000), ..Default::default() };
    let empty = w.lh.usage_report(&ada, after).await.expect("report");
    assert_eq!((empty.totals.messages, empty.most_active_rooms.len(), empty.per_day.len()), (0, 0, 0));
    assert_eq!(empty.inactive_rooms.len(), 3);
    let window = UsageQuery { since: Some(start), inactive_since: Some(start), ..Default::default() };
    assert_eq!(w.lh.usage_report(&ada, window).await.expect("report").inactive_rooms.len(), 1);

    for (what, actor, query, code) in [
        ("a user", &alice, q(None), E::AdminRequired),
        ("top 0", &ada, q(Some(0)), E::InvalidValue),
        ("top 501", &ada, q(Some(501)), E::InvalidValue),
        (
            "since after until",
            &ada,
            UsageQuery { since: Some(2), until: Some(1), ..Default::default() },
            E::InvalidValue,
        ),
    ] {
        assert_eq!(outcome(&w.lh.usage_report(actor, query).await), Err(code), "{what}");
    }
}

// ---------------------------------------------------------------------------------------------
// The directory's invitations and content-size filters (Get-CsPersistentChatRoom).

#[tokio::test]
async fn the_directory_filters_by_invitations_and_content_size() {
    let w = World::new().await;
    let alice = w.user("alice@corp.org").await;
    w.category("Floor", &["everyone"], &[], &[]).await;
    let mut quiet = new_room("Quiet", "Floor", Privacy::Open, &[]);
    quiet.invitations = RoomInvitations::Off;
    let quiet = w.room(quiet).await.id;
    let big = w.room(new_room("Big", "Floor", Privacy::Open, &[])).await.id;
    let chunk = "x".repeat(16 * 1024);
    for _ in 0..65 {
        w.say(&alice, big, &chunk).await;
    }
    w.say(&alice, quiet, "small").await;
    let names = async |who: &longhall_core::Actor, q: RoomSearch| -> Result<Vec<String>, E> {
        let page = w.lh.search_rooms(who, &q).await;
        outcome(&page).map(|_| page.unwrap().items.into_iter().map(|r| r.name).collect())
    };
    let off = RoomSearch { invitations: Some(RoomInvitations::Off), ..Default::default() };
    assert_eq!(names(&alice, off).await, Ok(vec!["Quiet".to_owned()]), "anyone may filter on invitations");
    let inherit = RoomSearch { invitations: Some(RoomInvitations::Inherit), ..Default::default() };
    assert_eq!(names(&alice, inherit).await, Ok(vec!["Big".to_owned()]));
    let mb = |n| RoomSearch { content_larger_than_mb: Some(n), ..Default::default() };
    assert_eq!(names(&w.system, mb(1)).await, Ok(vec!["Big".to_owned()]), "65 × 16 KiB is over 1 MB");
    assert_eq!(names(&w.system, mb(2)).await, Ok(vec![]));
    assert_eq!(names(&w.system, mb(0)).await, Ok(vec!["Quiet".to_owned(), "Big".to_owned()]), "0: any content");
    assert_eq!(names(&alice, mb(0)).await, Err(E::AdminRequired), "content size is for administrators");
    assert_eq!(names(&w.system, mb(u64::MAX)).await, Err(E::InvalidValue));
    w.lh.clear_room(&w.system, big, w.lh.now()).await.expect("clear");
    assert_eq!(names(&w.system, mb(0)).await, Ok(vec!["Quiet".to_owned()]), "a cleared room holds nothing");
}
