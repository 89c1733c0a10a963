//! The cases. Each takes a fresh, empty store and panics on the first broken rule.

use longhall_core::StoreError;
use longhall_core::change::{AuditQuery, AuditRecord, CatalogChange};
use longhall_core::model::*;
use longhall_core::ports::Store;
use longhall_core::principal::Principal;
use longhall_types::api::{FileRef, Privacy, RoomInvitations, RoomType};
use serde_json::json;

use crate::support::*;

// ---- catalog

pub async fn catalog_starts_empty<S: Store>(s: &S) {
    let c = s.load_catalog().await.unwrap();
    assert!(c.users.is_empty() && c.groups.is_empty() && c.categories.is_empty());
    assert!(c.rooms.is_empty() && c.addins.is_empty() && c.policies.is_empty() && c.configs.is_empty());
    s.ping().await.unwrap();
}

pub async fn users_round_trip<S: Store>(s: &S) {
    let mut a = user("alice@example.org");
    a.site = Some("emea".into());
    a.admin = true;
    a.policy = Some("traders".into());
    let a_id = s.insert_user(&a, "hash-a").await.unwrap();
    let b_id = s.insert_user(&user("bob@example.org"), "hash-b").await.unwrap();
    assert!(a_id > 0 && b_id > 0 && a_id != b_id, "ids assigned: {a_id}, {b_id}");
    a.id = a_id;

    let c = s.load_catalog().await.unwrap();
    assert_eq!(c.users.len(), 2);
    assert_eq!(c.users.iter().find(|u| u.id == a_id), Some(&a));

    a.display_name = "Alice Liddell".into();
    a.email = "alice@mail.example.org".into();
    a.site = None;
    a.disabled = true;
    a.admin = false;
    a.policy = None;
    s.update_user(&a).await.unwrap();
    let c = s.load_catalog().await.unwrap();
    assert_eq!(c.users.iter().find(|u| u.id == a_id), Some(&a));

    assert_eq!(s.password_hash(a_id).await.unwrap().as_deref(), Some("hash-a"));
    s.set_password(a_id, "hash-a2").await.unwrap();
    assert_eq!(s.password_hash(a_id).await.unwrap().as_deref(), Some("hash-a2"));
    assert_eq!(s.password_hash(b_id).await.unwrap().as_deref(), Some("hash-b"));
    assert_eq!(s.password_hash(a_id + b_id + 100).await.unwrap(), None);

    let mut ghost = user("ghost@example.org");
    ghost.id = a_id + b_id + 100;
    assert_not_found(s.update_user(&ghost).await, "update of a missing user");
    assert_not_found(s.set_password(ghost.id, "x").await, "password of a missing user");
}

pub async fn user_logins_are_unique<S: Store>(s: &S) {
    let a = s.insert_user(&user("alice@example.org"), "h").await.unwrap();
    let b = s.insert_user(&user("bob@example.org"), "h").await.unwrap();
    assert_conflict(s.insert_user(&user("alice@example.org"), "h").await, "same login");
    assert_conflict(s.insert_user(&user("ALICE@example.org"), "h").await, "same login, other case");
    let mut renamed = user("alice@example.org");
    renamed.id = b;
    assert_conflict(s.update_user(&renamed).await, "rename onto a taken login");
    let c = s.load_catalog().await.unwrap();
    assert_eq!(c.users.len(), 2, "a failed insert adds nothing");
    assert_eq!(c.users.iter().find(|u| u.id == b).unwrap().login, "bob@example.org", "a failed update changes nothing");
    assert_eq!(c.users.iter().find(|u| u.id == a).unwrap().login, "alice@example.org");
}

pub async fn groups_round_trip<S: Store>(s: &S) {
    let u = s.insert_user(&user("alice@example.org"), "h").await.unwrap();
    let inner = s.insert_group(&group("Inner", vec![Principal::User(u)])).await.unwrap();
    let mut outer = group("Outer", vec![Principal::Group(inner), Principal::User(u)]);
    outer.id = s.insert_group(&outer).await.unwrap();
    assert!(inner > 0 && outer.id > 0 && inner != outer.id);

    let c = s.load_catalog().await.unwrap();
    assert_eq!(c.groups.len(), 2);
    assert_eq!(c.groups.iter().find(|g| g.id == outer.id), Some(&outer), "members round-trip in order");

    outer.name = "Outermost".into();
    outer.members = vec![Principal::User(u)];
    s.update_group(&outer).await.unwrap();
    let c = s.load_catalog().await.unwrap();
    assert_eq!(c.groups.iter().find(|g| g.id == outer.id), Some(&outer));

    assert_conflict(s.insert_group(&group("inner", vec![])).await, "group name, other case");
    let mut clash = outer.clone();
    clash.name = "INNER".into();
    clash.members = vec![];
    assert_conflict(s.update_group(&clash).await, "rename onto a taken group name");
    let c = s.load_catalog().await.unwrap();
    assert_eq!(c.groups.len(), 2);
    assert_eq!(c.groups.iter().find(|g| g.id == outer.id), Some(&outer), "a failed update changes nothing");

    let mut ghost = group("Ghost", vec![]);
    ghost.id = outer.id + inner + 100;
    assert_not_found(s.update_group(&ghost).await, "update of a missing group");
    assert_not_found(s.delete_group(ghost.id).await, "delete of a missing group");
}

pub async fn categories_and_rooms_round_trip<S: Store>(s: &S) {
    let u = s.insert_user(&user("alice@example.org"), "h").await.unwrap();
    let g = s.insert_group(&group("Traders", vec![Principal::User(u)])).await.unwrap();
    let addin =
        s.insert_addin(&Addin { id: 0, name: "Quotes".into(), url: "https://q.example.org".into() }).await.unwrap();

    let mut k = category("Markets");
    k.invitations = false;
    k.file_upload = false;
    k.chat_history = false;
    k.allowed = vec![Principal::Domain("example.org".into()), Principal::Group(g)];
    k.denied = vec![Principal::User(u)];
    k.creators = vec![Principal::Group(g), Principal::Everyone];
    k.id = s.insert_category(&k).await.unwrap();

    let mut r = room("Bonds", k.id);
    r.privacy = Privacy::Secret;
    r.room_type = RoomType::Auditorium;
    r.invitations = RoomInvitations::Off;
    r.addin = Some(addin);
    r.disabled = true;
    r.members = vec![Principal::User(u), Principal::Group(g), Principal::Domain("example.org".into())];
    r.managers = vec![Principal::User(u)];
    r.presenters = vec![Principal::Everyone];
    r.id = s.insert_room(&r).await.unwrap();
    assert!(k.id > 0 && r.id > 0);

    let c = s.load_catalog().await.unwrap();
    assert_eq!(c.categories, vec![k.clone()]);
    assert_eq!(c.rooms, vec![(r.clone(), 0)], "a new room has last_seq 0");

    let k2 = s.insert_category(&category("Rates")).await.unwrap();
    k.description = "all markets".into();
    k.chat_history = true;
    k.allowed = vec![Principal::Everyone];
    k.denied = vec![];
    s.update_category(&k).await.unwrap();
    r.name = "Govvies".into();
    r.category = k2;
    r.privacy = Privacy::Open;
    r.room_type = RoomType::Normal;
    r.invitations = RoomInvitations::Inherit;
    r.addin = None;
    r.disabled = false;
    r.members = vec![Principal::Group(g)];
    r.managers = vec![];
    s.update_room(&r).await.unwrap();

    let c = s.load_catalog().await.unwrap();
    assert_eq!(c.categories.iter().find(|x| x.id == k.id), Some(&k));
    assert_eq!(c.rooms, vec![(r.clone(), 0)]);

    let mut ghost = room("Ghost", k.id);
    ghost.id = r.id + 100;
    assert_not_found(s.update_room(&ghost).await, "update of a missing room");
    let mut ghost_k = category("Ghost");
    ghost_k.id = k.id + k2 + 100;
    assert_not_found(s.update_category(&ghost_k).await, "update of a missing category");
    assert_not_found(s.insert_room(&room("Orphan", k.id + k2 + 100)).await, "room in a missing category");
    assert_eq!(s.load_catalog().await.unwrap().rooms.len(), 1);
}

/// A room may not take a category's name and vice versa, compared without case (Unicode
/// case too), and a failed write changes nothing.
pub async fn category_and_room_names_share_one_namespace<S: Store>(s: &S) {
    let k = s.insert_category(&category("Markets")).await.unwrap();
    let r = s.insert_room(&room("Bonds", k)).await.unwrap();

    assert_conflict(s.insert_room(&room("markets", k)).await, "room named like a category");
    assert_conflict(s.insert_category(&category("BONDS")).await, "category named like a room");
    assert_conflict(s.insert_room(&room("bonds", k)).await, "two rooms, one name");
    assert_conflict(s.insert_category(&category("MARKETS")).await, "two categories, one name");

    let mut renamed = room("MARKETS", k);
    renamed.id = r;
    assert_conflict(s.update_room(&renamed).await, "rename a room onto a category");
    let mut renamed_k = category("bonds");
    renamed_k.id = k;
    assert_conflict(s.update_category(&renamed_k).await, "rename a category onto a room");

    let c = s.load_catalog().await.unwrap();
    assert_eq!(c.categories.len(), 1);
    assert_eq!(c.categories[0].name, "Markets", "failed rename changes nothing");
    assert_eq!(c.rooms.len(), 1);
    assert_eq!(c.rooms[0].0.name, "Bonds");

    // Renaming to a new case of its own name is fine; the old name is then free.
    let mut own = room("BONDS", k);
    own.id = r;
    s.update_room(&own).await.unwrap();
    own.name = "Gilts".into();
    s.update_room(&own).await.unwrap();
    s.insert_category(&category("Bonds")).await.unwrap();

    // Unicode case folding, not just ASCII.
    s.insert_room(&room("Café", k)).await.unwrap();
    assert_conflict(s.insert_category(&category("CAFÉ")).await, "non-ASCII case");

    // A deleted room's name is free again.
    s.delete_room(r).await.unwrap();
    s.insert_room(&room("Gilts", k)).await.unwrap();
}

pub async fn addins_round_trip<S: Store>(s: &S) {
    let mut a = Addin { id: 0, name: "Quotes".into(), url: "https://q.example.org".into() };
    a.id = s.insert_addin(&a).await.unwrap();
    let b = s.insert_addin(&Addin { id: 0, name: "News".into(), url: "https://n.example.org".into() }).await.unwrap();
    assert!(a.id > 0 && b > 0 && a.id != b);
    assert_conflict(
        s.insert_addin(&Addin { id: 0, name: "quotes".into(), url: "https://x".into() }).await,
        "add-in name, other case",
    );
    a.url = "https://quotes.example.org/v2".into();
    s.update_addin(&a).await.unwrap();
    let mut clash = a.clone();
    clash.name = "NEWS".into();
    assert_conflict(s.update_addin(&clash).await, "rename onto a taken add-in name");
    let c = s.load_catalog().await.unwrap();
    assert_eq!(c.addins.len(), 2);
    assert_eq!(c.addins.iter().find(|x| x.id == a.id), Some(&a));

    // Deleting an add-in a room uses clears the room's reference.
    let k = s.insert_category(&category("General")).await.unwrap();
    let mut r = room("Desk", k);
    r.addin = Some(a.id);
    r.id = s.insert_room(&r).await.unwrap();
    s.delete_addin(a.id).await.unwrap();
    let c = s.load_catalog().await.unwrap();
    assert_eq!(c.addins.iter().map(|x| x.id).collect::<Vec<_>>(), vec![b]);
    assert_eq!(c.rooms[0].0.addin, None);
    assert_not_found(s.delete_addin(a.id).await, "delete of a missing add-in");
    let mut ghost = a.clone();
    ghost.name = "Ghost".into();
    assert_not_found(s.update_addin(&ghost).await, "update of a missing add-in");
    // Its name is free again.
    s.insert_addin(&Addin { id: 0, name: "Quotes".into(), url: "https://q".into() }).await.unwrap();
}

pub async fn delete_group_removes_its_list_entries<S: Store>(s: &S) {
    let u = s.insert_user(&user("alice@example.org"), "h").await.unwrap();
    let doomed = s.insert_group(&group("Doomed", vec![Principal::User(u)])).await.unwrap();
    let keeper = s.insert_group(&group("Keeper", vec![Principal::Group(doomed), Principal::User(u)])).await.unwrap();
    let everywhere = vec![Principal::User(u), Principal::Group(doomed), Principal::Group(keeper)];
    let mut k = category("General");
    k.allowed = everywhere.clone();
    k.denied = everywhere.clone();
    k.creators = everywhere.clone();
    let k = s.insert_category(&k).await.unwrap();
    let mut r = room("Desk", k);
    r.members = everywhere.clone();
    r.managers = everywhere.clone();
    r.presenters = everywhere.clone();
    s.insert_room(&r).await.unwrap();

    s.delete_group(doomed).await.unwrap();
    let rest = vec![Principal::User(u), Principal::Group(keeper)];
    let c = s.load_catalog().await.unwrap();
    assert_eq!(c.groups.len(), 1);
    assert_eq!(c.groups[0].members, vec![Principal::User(u)]);
    let k = &c.categories[0];
    assert_eq!((&k.allowed, &k.denied, &k.creators), (&rest, &rest, &rest));
    let r = &c.rooms[0].0;
    assert_eq!((&r.members, &r.managers, &r.presenters), (&rest, &rest, &rest));
    // Its name is free again.
    s.insert_group(&group("Doomed", vec![])).await.unwrap();
}

pub async fn delete_category_only_when_empty<S: Store>(s: &S) {
    let k = s.insert_category(&category("General")).await.unwrap();
    let r = s.insert_room(&room("Desk", k)).await.unwrap();
    assert!(s.delete_category(k).await.is_err(), "a category with rooms is not removed");
    assert_eq!(s.load_catalog().await.unwrap().categories.len(), 1);
    s.delete_room(r).await.unwrap();
    s.delete_category(k).await.unwrap();
    let c = s.load_catalog().await.unwrap();
    assert!(c.categories.is_empty() && c.rooms.is_empty());
    assert_not_found(s.delete_category(k).await, "delete of a missing category");
    // Its name is free again, for a room too.
    let k2 = s.insert_category(&category("Other")).await.unwrap();
    s.insert_room(&room("General", k2)).await.unwrap();
}

pub async fn delete_room_removes_its_content<S: Store>(s: &S) {
    let w = world(s).await;
    post_all(s, w.room_a, w.alice, 1_000, &["hello there", "second"]).await;
    post_all(s, w.room_b, w.alice, 1_000, &["hello elsewhere"]).await;
    s.set_followed(w.bob, w.room_a, true).await.unwrap();
    s.set_followed(w.bob, w.room_b, true).await.unwrap();
    s.add_invitations(w.room_a, &[w.bob], 5_000).await.unwrap();
    let file = FileMeta {
        id: 0,
        room: w.room_a,
        uploader: w.alice,
        key: "k1".into(),
        name: "a.txt".into(),
        content_type: "text/plain".into(),
        size: 3,
        ts: 6_000,
    };
    let file_id = s.insert_file(&file, &event(ComplianceKind::FileUpload, w.room_a, w.alice, 6_000)).await.unwrap();

    let keys = s.delete_room(w.room_a).await.unwrap();
    assert_eq!(keys, vec!["k1".to_owned()], "the removed file's key is returned so its bytes can go too");
    let c = s.load_catalog().await.unwrap();
    assert_eq!(c.rooms.iter().map(|(r, _)| r.id).collect::<Vec<_>>(), vec![w.room_b]);
    assert!(s.latest_messages(w.room_a, 10).await.unwrap().is_empty());
    assert!(s.search(&query(&[w.room_a, w.room_b], Some("hello"))).await.unwrap().iter().all(|m| m.room == w.room_b));
    assert_eq!(s.followed(w.bob).await.unwrap().iter().map(|f| f.room).collect::<Vec<_>>(), vec![w.room_b]);
    assert!(s.invitations_after(w.bob, 0, 10).await.unwrap().is_empty());
    assert_eq!(s.get_file(file_id).await.unwrap(), None);
    assert_eq!(texts(&s.latest_messages(w.room_b, 10).await.unwrap()), vec!["hello elsewhere"]);
    assert_not_found(s.delete_room(w.room_a).await, "delete of a missing room");
}

/// Ids are never handed out twice, even after the newest object is deleted: clients,
/// lists and compliance records keep ids.
pub async fn ids_are_never_reused<S: Store>(s: &S) {
    let k = s.insert_category(&category("General")).await.unwrap();
    let r1 = s.insert_room(&room("One", k)).await.unwrap();
    s.delete_room(r1).await.unwrap();
    let r2 = s.insert_room(&room("Two", k)).await.unwrap();
    assert!(r2 > r1, "room id {r2} after deleted {r1}");
    let g1 = s.insert_group(&group("One", vec![])).await.unwrap();
    s.delete_group(g1).await.unwrap();
    let g2 = s.insert_group(&group("Two", vec![])).await.unwrap();
    assert!(g2 > g1, "group id {g2} after deleted {g1}");
}

pub async fn policies_and_configs_put_and_delete<S: Store>(s: &S) {
    let global = Policy { scope: Scope::Global, enable_persistent_chat: true, description: "on".into() };
    let site = Policy { scope: Scope::Site("emea".into()), enable_persistent_chat: false, description: "off".into() };
    let tag = Policy { scope: Scope::Tag("traders".into()), enable_persistent_chat: true, description: "tag".into() };
    for p in [&global, &site, &tag] {
        s.put_policy(p).await.unwrap();
    }
    let replaced = Policy { description: "replaced".into(), enable_persistent_chat: false, ..global.clone() };
    s.put_policy(&replaced).await.unwrap();
    let mut got = s.load_catalog().await.unwrap().policies;
    got.sort_by(|a, b| a.scope.cmp(&b.scope));
    assert_eq!(got, vec![replaced.clone(), site.clone(), tag.clone()]);
    s.delete_policy(&Scope::Site("emea".into())).await.unwrap();
    s.delete_policy(&Scope::Site("nowhere".into())).await.unwrap();
    let mut got = s.load_catalog().await.unwrap().policies;
    got.sort_by(|a, b| a.scope.cmp(&b.scope));
    assert_eq!(got, vec![replaced, tag]);

    let g = Config::defaults(Scope::Global);
    let mut site_cfg = Config::defaults(Scope::Site("emea".into()));
    site_cfg.default_chat_history = 500;
    site_cfg.max_file_size_kb = 1 << 40;
    site_cfg.room_management_url = "https://rooms.example.org".into();
    s.put_config(&g).await.unwrap();
    s.put_config(&site_cfg).await.unwrap();
    let g2 = Config { participant_update_limit: 10, ..g.clone() };
    s.put_config(&g2).await.unwrap();
    let mut got = s.load_catalog().await.unwrap().configs;
    got.sort_by(|a, b| a.scope.cmp(&b.scope));
    assert_eq!(got, vec![g2.clone(), site_cfg]);
    s.delete_config(&Scope::Site("emea".into())).await.unwrap();
    assert_eq!(s.load_catalog().await.unwrap().configs, vec![g2]);
}

pub async fn meta_get_and_put<S: Store>(s: &S) {
    assert_eq!(s.get_meta("first_start_done").await.unwrap(), None);
    s.put_meta("first_start_done", "yes").await.unwrap();
    s.put_meta("other", "1").await.unwrap();
    assert_eq!(s.get_meta("first_start_done").await.unwrap().as_deref(), Some("yes"));
    s.put_meta("first_start_done", "again").await.unwrap();
    assert_eq!(s.get_meta("first_start_done").await.unwrap().as_deref(), Some("again"));
    assert_eq!(s.get_meta("other").await.unwrap().as_deref(), Some("1"));
}

// ---- tokens

pub async fn tokens_insert_find_delete_list<S: Store>(s: &S) {
    let a = s.insert_user(&user("alice@example.org"), "h").await.unwrap();
    let b = s.insert_user(&user("bob@example.org"), "h").await.unwrap();
    let tok = |user, kind, hash: &str, created, expires| TokenRecord {
        id: 0,
        user,
        kind,
        label: format!("label {hash}"),
        hash: hash.to_owned(),
        created,
        expires,
    };
    let mut t1 = tok(a, TokenKind::Session, "h1", 100, Some(9_000));
    let mut t2 = tok(b, TokenKind::Api, "h2", 200, None);
    let mut t3 = tok(a, TokenKind::Api, "h3", 300, None);
    t3.id = s.insert_token(&t3).await.unwrap();
    t1.id = s.insert_token(&t1).await.unwrap();
    t2.id = s.insert_token(&t2).await.unwrap();
    assert!(t1.id > 0 && t2.id > 0 && t3.id > 0 && t1.id != t2.id && t2.id != t3.id);

    assert_eq!(s.find_token("h1").await.unwrap(), Some(t1.clone()));
    assert_eq!(s.find_token("h2").await.unwrap(), Some(t2.clone()));
    assert_eq!(s.find_token("nope").await.unwrap(), None);
    assert_eq!(s.list_tokens(Some(a)).await.unwrap(), vec![t1.clone(), t3.clone()], "oldest first");
    assert_eq!(s.list_tokens(None).await.unwrap(), vec![t1.clone(), t2.clone(), t3.clone()]);

    assert!(s.delete_token(t1.id).await.unwrap());
    assert!(!s.delete_token(t1.id).await.unwrap(), "second delete finds nothing");
    assert_eq!(s.find_token("h1").await.unwrap(), None);
    assert_eq!(s.list_tokens(Some(a)).await.unwrap(), vec![t3]);
}

// ---- the one catalog-write path and its audit log

fn audit(actor: &str, ts: Millis, noun: &str, object: &str, id: Option<i64>, after: serde_json::Value) -> AuditRecord {
    AuditRecord {
        id: 0,
        ts,
        actor: actor.to_owned(),
        token_id: Some(7),
        source: Some("192.0.2.1".into()),
        noun: noun.to_owned(),
        object: object.to_owned(),
        object_id: id,
        operation: "create".into(),
        before: None,
        after: Some(after),
        note: Some("password set".into()),
    }
}

fn all_audit() -> AuditQuery {
    AuditQuery { limit: 1000, ..AuditQuery::default() }
}

pub async fn audit_records_are_written_with_their_change<S: Store>(s: &S) {
    assert!(s.audit_records(&all_audit()).await.unwrap().is_empty());
    // An insert: the store gives the record the new id, in object_id and after.id.
    let rec = audit(
        "admin@example.org",
        1_000,
        "user",
        "alice@example.org",
        Some(0),
        json!({"id": 0, "login": "alice@example.org"}),
    );
    let change = CatalogChange::InsertUser { user: user("alice@example.org"), password_hash: "h".into() };
    let alice = s.commit_change(&change, Some(&rec)).await.unwrap().id;
    let got = s.audit_records(&all_audit()).await.unwrap();
    assert_eq!(got.len(), 1);
    assert!(got[0].id > 0);
    let mut want = rec.clone();
    want.id = got[0].id;
    want.object_id = Some(alice);
    want.after = Some(json!({"id": alice, "login": "alice@example.org"}));
    assert_eq!(got[0], want, "every field as written, with the new id");

    // A refused change records nothing.
    let clash = audit("admin@example.org", 1_500, "user", "ALICE@example.org", Some(0), json!({"id": 0}));
    let change = CatalogChange::InsertUser { user: user("ALICE@example.org"), password_hash: String::new() };
    assert_conflict(s.commit_change(&change, Some(&clash)).await, "same login");
    assert_eq!(s.audit_records(&all_audit()).await.unwrap().len(), 1, "a failed change leaves no record");

    // An update, by someone else, later; without a token or source.
    let mut renamed = user("alice@example.org");
    renamed.id = alice;
    renamed.display_name = "Alice L.".into();
    let mut upd = audit(
        "other@example.org",
        2_000,
        "user",
        "alice@example.org",
        Some(alice),
        json!({"display_name": "Alice L."}),
    );
    upd.operation = "update".into();
    upd.before = Some(json!({"display_name": "Display alice@example.org"}));
    upd.token_id = None;
    upd.source = None;
    upd.note = None;
    s.commit_change(&CatalogChange::UpdateUser { user: renamed, password_hash: None }, Some(&upd)).await.unwrap();
    // A policy: an object without an id.
    let policy = Policy { scope: Scope::Site("emea".into()), enable_persistent_chat: true, description: String::new() };
    let pol = audit("admin@example.org", 3_000, "policy", "site:emea", None, json!({"scope": "site:emea"}));
    s.commit_change(&CatalogChange::PutPolicy { policy }, Some(&pol)).await.unwrap();
    // Unaudited: nothing recorded.
    s.commit_change(&CatalogChange::InsertUser { user: user("bob@example.org"), password_hash: String::new() }, None)
        .await
        .unwrap();

    let all = s.audit_records(&all_audit()).await.unwrap();
    assert_eq!(all.len(), 3);
    assert!(all.windows(2).all(|w| w[0].id < w[1].id), "oldest first");
    assert_eq!(all[1].before, upd.before);
    assert_eq!(all[1].token_id, None);
    let objects = |r: Vec<AuditRecord>| r.into_iter().map(|r| (r.noun, r.ts)).collect::<Vec<_>>();
    let by_actor = select(s, AuditQuery { actor: Some("ADMIN@example.org".into()), ..all_audit() }).await;
    assert_eq!(objects(by_actor), vec![("user".into(), 1_000), ("policy".into(), 3_000)], "actor, any case");
    let by_object = select(s, AuditQuery { object: Some("Alice@Example.org".into()), ..all_audit() }).await;
    assert_eq!(objects(by_object), vec![("user".into(), 1_000), ("user".into(), 2_000)], "object, any case");
    let by_id = select(s, AuditQuery { object: Some(format!("USER:{alice}")), ..all_audit() }).await;
    assert_eq!(by_id.len(), 2, "object by noun and id");
    let bare = select(s, AuditQuery { object: Some(alice.to_string()), ..all_audit() }).await;
    assert!(bare.is_empty(), "an id alone names no object: ids repeat across nouns");
    let by_time = select(s, AuditQuery { since: Some(2_000), until: Some(3_000), ..all_audit() }).await;
    assert_eq!(objects(by_time), vec![("user".into(), 2_000), ("policy".into(), 3_000)], "bounds inclusive");
    let first = select(s, AuditQuery { limit: 1, ..all_audit() }).await;
    assert_eq!(first.len(), 1);
    let rest = select(s, AuditQuery { after: first[0].id, ..all_audit() }).await;
    assert_eq!(rest.len(), 2, "paging after an id");
}

async fn select<S: Store>(s: &S, q: AuditQuery) -> Vec<AuditRecord> {
    s.audit_records(&q).await.unwrap()
}

pub async fn remove_user_keeps_the_row_for_attribution<S: Store>(s: &S) {
    let w = world(s).await;
    let me = Principal::User(w.alice);
    let g = s.insert_group(&group("Traders", vec![me.clone(), Principal::User(w.bob)])).await.unwrap();
    let mut k = category("Desk");
    k.allowed = vec![me.clone(), Principal::Everyone];
    k.creators = vec![me.clone()];
    k.id = s.insert_category(&k).await.unwrap();
    let mut r = room("Bonds", k.id);
    r.members = vec![me.clone(), Principal::User(w.bob)];
    r.managers = vec![me.clone()];
    r.id = s.insert_room(&r).await.unwrap();
    for (kind, hash) in [(TokenKind::Session, "s1"), (TokenKind::Api, "a1")] {
        let t =
            TokenRecord { id: 0, user: w.alice, kind, label: "t".into(), hash: hash.into(), created: 1, expires: None };
        s.insert_token(&t).await.unwrap();
    }
    s.set_followed(w.alice, w.room_a, true).await.unwrap();
    s.add_invitations(w.room_b, &[w.alice], 5).await.unwrap();
    let seqs = post_all(s, w.room_a, w.alice, 1_000, &["kept"]).await;

    let out = s.commit_change(&CatalogChange::RemoveUser { id: w.alice }, None).await.unwrap();
    assert_eq!(out.tokens_removed, 2);
    let c = s.load_catalog().await.unwrap();
    assert!(c.users.iter().all(|u| u.id != w.alice), "no longer a user");
    assert_eq!(c.removed_users.iter().map(|u| u.login.as_str()).collect::<Vec<_>>(), vec!["alice@example.org"]);
    assert_eq!(c.groups.iter().find(|x| x.id == g).unwrap().members, vec![Principal::User(w.bob)]);
    let kk = c.categories.iter().find(|x| x.id == k.id).unwrap();
    assert_eq!((kk.allowed.clone(), kk.creators.clone()), (vec![Principal::Everyone], vec![]));
    let (rr, _) = c.rooms.iter().find(|(x, _)| x.id == r.id).unwrap();
    assert_eq!((rr.members.clone(), rr.managers.clone()), (vec![Principal::User(w.bob)], vec![]));
    assert_eq!(s.find_token("s1").await.unwrap(), None);
    assert_eq!(s.find_token("a1").await.unwrap(), None);
    assert!(s.followed(w.alice).await.unwrap().is_empty());
    assert!(s.invitations_after(w.alice, 0, 10).await.unwrap().is_empty());
    assert_eq!(s.password_hash(w.alice).await.unwrap(), None, "no password to sign in with");
    let kept = s.latest_messages(w.room_a, 10).await.unwrap();
    assert_eq!((kept[0].seq, kept[0].author), (seqs[0], w.alice), "what it posted stays, by its id");

    assert_not_found(s.commit_change(&CatalogChange::RemoveUser { id: w.alice }, None).await, "removed twice");
    let mut again = user("alice@example.org");
    again.id = w.alice;
    assert_not_found(s.update_user(&again).await, "update of a removed user");
    let fresh = s.insert_user(&user("alice@example.org"), "h").await.unwrap();
    assert!(fresh != w.alice, "the login is free again, under a new id");
}

// ---- messages

pub async fn commit_posts_assigns_dense_seqs_in_batch_order<S: Store>(s: &S) {
    let w = world(s).await;
    let (a, b) = (w.room_a, w.room_b);
    let batch = vec![
        post(a, w.alice, 1_000, "a1"),
        post(b, w.bob, 1_001, "b1"),
        post(a, w.bob, 1_002, "a2"),
        post(a, w.alice, 1_003, "a3"),
        post(b, w.alice, 1_004, "b2"),
    ];
    assert_eq!(s.commit_posts(batch).await.unwrap(), vec![1, 1, 2, 3, 2]);
    assert_eq!(
        s.commit_posts(vec![post(b, w.bob, 2_000, "b3"), post(a, w.bob, 2_001, "a4")]).await.unwrap(),
        vec![3, 4]
    );
    assert_eq!(s.commit_posts(vec![]).await.unwrap(), Vec::<Seq>::new());

    let got = s.latest_messages(a, 10).await.unwrap();
    assert_eq!(seqs(&got), vec![1, 2, 3, 4]);
    assert_eq!(texts(&got), vec!["a1", "a2", "a3", "a4"]);
    let m = &got[1];
    assert_eq!((m.room, m.ts, m.author, m.alert, m.replaced), (a, 1_002, w.bob, false, false));
    assert_eq!(texts(&s.latest_messages(b, 10).await.unwrap()), vec!["b1", "b2", "b3"]);

    let c = s.load_catalog().await.unwrap();
    let last = |id| c.rooms.iter().find(|(r, _)| r.id == id).unwrap().1;
    assert_eq!((last(a), last(b)), (4, 3), "load_catalog returns each room's last_seq");
}

pub async fn failed_post_batch_changes_nothing<S: Store>(s: &S) {
    let w = world(s).await;
    post_all(s, w.room_a, w.alice, 1_000, &["first"]).await;
    let events_before = all_events(s).await.len();
    let missing_room = w.room_a + w.room_b + 100;
    let r = s.commit_posts(vec![post(w.room_a, w.alice, 2_000, "lost"), post(missing_room, w.alice, 2_001, "x")]).await;
    assert!(r.is_err(), "a post to a missing room fails the call: {r:?}");
    assert_eq!(texts(&s.latest_messages(w.room_a, 10).await.unwrap()), vec!["first"]);
    assert_eq!(all_events(s).await.len(), events_before, "no compliance record of a failed call");
    assert_eq!(room_of(s, w.room_a).await.unwrap().1, 1);
    assert_eq!(s.commit_posts(vec![post(w.room_a, w.alice, 3_000, "next")]).await.unwrap(), vec![2]);
}

pub async fn message_fields_round_trip<S: Store>(s: &S) {
    let w = world(s).await;
    let file = FileMeta {
        id: 0,
        room: w.room_a,
        uploader: w.alice,
        key: "key-1".into(),
        name: "report.pdf".into(),
        content_type: "application/pdf".into(),
        size: 12_345,
        ts: 500,
    };
    let file_id = s.insert_file(&file, &event(ComplianceKind::FileUpload, w.room_a, w.alice, 500)).await.unwrap();
    let mut p = post(w.room_a, w.alice, 1_000, "see attached — ☕ 🚀");
    p.alert = true;
    p.story_title = Some("Quarterly report".into());
    p.file = Some(file_id);
    s.commit_posts(vec![p]).await.unwrap();
    let got = s.latest_messages(w.room_a, 1).await.unwrap();
    assert_eq!(
        got,
        vec![StoredMessage {
            room: w.room_a,
            seq: 1,
            ts: 1_000,
            author: w.alice,
            text: "see attached — ☕ 🚀".into(),
            alert: true,
            story_title: Some("Quarterly report".into()),
            file: Some(FileRef {
                id: file_id,
                name: "report.pdf".into(),
                size: 12_345,
                content_type: "application/pdf".into()
            }),
            replaced: false,
        }]
    );
}

pub async fn unkept_posts_get_a_seq_but_are_not_returned<S: Store>(s: &S) {
    let w = world(s).await;
    let mut hidden = post(w.room_a, w.alice, 1_001, "not kept");
    hidden.keep = false;
    let seqs_got = s
        .commit_posts(vec![post(w.room_a, w.alice, 1_000, "kept 1"), hidden, post(w.room_a, w.alice, 1_002, "kept 3")])
        .await
        .unwrap();
    assert_eq!(seqs_got, vec![1, 2, 3]);
    let got = s.latest_messages(w.room_a, 10).await.unwrap();
    assert_eq!(seqs(&got), vec![1, 3]);
    assert!(s.messages_after(w.room_a, 1, 10).await.unwrap().iter().all(|m| m.seq != 2));
    assert!(s.search(&query(&[w.room_a], Some("not kept"))).await.unwrap().is_empty());
    assert_eq!(room_of(s, w.room_a).await.unwrap().1, 3);
    let chat: Vec<_> = all_events(s).await.into_iter().filter(|(_, e)| e.kind == ComplianceKind::Chat).collect();
    assert_eq!(chat.len(), 3, "the unkept post is archived too");
    assert_eq!(chat[1].1.detail["text"], json!("not kept"));
    assert_eq!(chat[1].1.seq, Some(2));
}

pub async fn every_post_gets_a_chat_compliance_event<S: Store>(s: &S) {
    let w = world(s).await;
    let mut p1 = post(w.room_a, w.alice, 1_000, "hello");
    p1.alert = true;
    p1.story_title = Some("Title".into());
    p1.author_login = "alice@example.org".into();
    p1.room_name = "Alpha".into();
    let p2 = post(w.room_b, w.bob, 1_001, "world");
    s.commit_posts(vec![p1, p2]).await.unwrap();

    let events = all_events(s).await;
    assert_eq!(events.len(), 2);
    assert!(events[0].0 < events[1].0, "ids ascend");
    let e = &events[0].1;
    assert_eq!(e.kind, ComplianceKind::Chat);
    assert_eq!((e.ts, e.room, e.user, e.seq), (1_000, w.room_a, w.alice, Some(1)));
    assert_eq!((e.room_name.as_str(), e.user_login.as_str()), ("Alpha", "alice@example.org"));
    assert_eq!(e.detail["text"], json!("hello"));
    assert_eq!(e.detail["alert"], json!(true));
    assert_eq!(e.detail["story_title"], json!("Title"));
    assert_eq!(e.detail["file"], json!(null));
    let e = &events[1].1;
    assert_eq!((e.kind, e.room, e.user, e.seq), (ComplianceKind::Chat, w.room_b, w.bob, Some(1)));
    assert_eq!(e.detail["text"], json!("world"));
}

pub async fn history_paging<S: Store>(s: &S) {
    let w = world(s).await;
    let texts_in: Vec<String> = (1..=10).map(|i| format!("m{i}")).collect();
    let refs: Vec<&str> = texts_in.iter().map(String::as_str).collect();
    post_all(s, w.room_a, w.alice, 1_000, &refs).await;
    post_all(s, w.room_b, w.alice, 1_000, &["other"]).await;

    assert_eq!(seqs(&s.latest_messages(w.room_a, 3).await.unwrap()), vec![8, 9, 10]);
    assert_eq!(seqs(&s.latest_messages(w.room_a, 50).await.unwrap()), (1..=10).collect::<Vec<_>>());
    assert!(s.latest_messages(w.room_a, 0).await.unwrap().is_empty());
    assert_eq!(seqs(&s.messages_before(w.room_a, 8, 3).await.unwrap()), vec![5, 6, 7]);
    assert_eq!(seqs(&s.messages_before(w.room_a, 3, 5).await.unwrap()), vec![1, 2]);
    assert!(s.messages_before(w.room_a, 1, 5).await.unwrap().is_empty());
    assert_eq!(seqs(&s.messages_after(w.room_a, 3, 3).await.unwrap()), vec![4, 5, 6]);
    assert_eq!(seqs(&s.messages_after(w.room_a, 8, 5).await.unwrap()), vec![9, 10]);
    assert!(s.messages_after(w.room_a, 10, 5).await.unwrap().is_empty());
    assert_eq!(texts(&s.messages_after(w.room_a, 0, 2).await.unwrap()), vec!["m1", "m2"]);
    assert!(s.latest_messages(w.room_a + w.room_b + 100, 5).await.unwrap().is_empty());
}

pub async fn messages_around_a_time<S: Store>(s: &S) {
    let w = world(s).await;
    let texts_in: Vec<String> = (1..=20).map(|i| format!("m{i}")).collect();
    let refs: Vec<&str> = texts_in.iter().map(String::as_str).collect();
    // m{i} has ts 1000 * i.
    post_all(s, w.room_a, w.alice, 1_000, &refs).await;

    // At ts 10_000 (m10): half before (m6..m9), the rest from m10 on.
    let got = s.messages_around(w.room_a, 10_000, 8).await.unwrap();
    assert_eq!(seqs(&got), vec![6, 7, 8, 9, 10, 11, 12, 13]);
    // Between messages.
    let got = s.messages_around(w.room_a, 10_500, 4).await.unwrap();
    assert_eq!(seqs(&got), vec![9, 10, 11, 12]);
    // Near the start: every earlier message, the window still filled from later ones.
    let got = s.messages_around(w.room_a, 2_000, 6).await.unwrap();
    assert_eq!(got.len(), 6);
    assert_eq!(seqs(&got)[..2], [1, 2]);
    assert!(got.windows(2).all(|p| p[0].seq + 1 == p[1].seq), "contiguous and oldest first");
    // After the end: the newest ones.
    let got = s.messages_around(w.room_a, 99_000, 4).await.unwrap();
    assert_eq!(seqs(&got), vec![17, 18, 19, 20]);
}

// ---- search

pub async fn search_finds_substrings_case_insensitively<S: Store>(s: &S) {
    let w = world(s).await;
    post_all(s, w.room_a, w.alice, 1_000, &["The Deployment is done", "nothing here", "REDEPLOY tomorrow"]).await;
    let got = s.search(&query(&[w.room_a], Some("ploy"))).await.unwrap();
    assert_eq!(texts(&got), vec!["REDEPLOY tomorrow", "The Deployment is done"], "newest first");
    let got = s.search(&query(&[w.room_a], Some("DEPLOYMENT"))).await.unwrap();
    assert_eq!(texts(&got), vec!["The Deployment is done"]);
    let got = s.search(&query(&[w.room_a], Some("is done"))).await.unwrap();
    assert_eq!(texts(&got), vec!["The Deployment is done"], "spaces are part of the substring");
    assert!(
        s.search(&query(&[w.room_a], Some("done is"))).await.unwrap().is_empty(),
        "a substring, not a bag of words"
    );
    assert!(s.search(&query(&[w.room_a], Some("absent"))).await.unwrap().is_empty());
    // No text: every message (subject to the other filters).
    assert_eq!(s.search(&query(&[w.room_a], None)).await.unwrap().len(), 3);
}

pub async fn search_finds_cjk_and_other_scripts<S: Store>(s: &S) {
    let w = world(s).await;
    post_all(
        s,
        w.room_a,
        w.alice,
        1_000,
        &["明天的会议改到三点", "今日は晴れです", "Встреча перенесена", "Größenänderung geplant"],
    )
    .await;
    assert_eq!(texts(&s.search(&query(&[w.room_a], Some("会议改"))).await.unwrap()), vec!["明天的会议改到三点"]);
    assert_eq!(texts(&s.search(&query(&[w.room_a], Some("晴れで"))).await.unwrap()), vec!["今日は晴れです"]);
    assert_eq!(texts(&s.search(&query(&[w.room_a], Some("ВСТРЕЧА"))).await.unwrap()), vec!["Встреча перенесена"]);
    assert_eq!(texts(&s.search(&query(&[w.room_a], Some("GRÖß"))).await.unwrap()), vec!["Größenänderung geplant"]);
    assert_eq!(texts(&s.search(&query(&[w.room_a], Some("ÄNDERUNG"))).await.unwrap()), vec!["Größenänderung geplant"]);
}

/// One- and two-character texts are too short for trigram indexes; they must still work
/// (CJK words are often two characters).
pub async fn search_short_queries<S: Store>(s: &S) {
    let w = world(s).await;
    post_all(s, w.room_a, w.alice, 1_000, &["明天的会议改到三点", "ok then", "Go!", "no match"]).await;
    assert_eq!(texts(&s.search(&query(&[w.room_a], Some("会议"))).await.unwrap()), vec!["明天的会议改到三点"]);
    assert_eq!(texts(&s.search(&query(&[w.room_a], Some("会"))).await.unwrap()), vec!["明天的会议改到三点"]);
    assert_eq!(texts(&s.search(&query(&[w.room_a], Some("OK"))).await.unwrap()), vec!["ok then"]);
    assert_eq!(texts(&s.search(&query(&[w.room_a], Some("!"))).await.unwrap()), vec!["Go!"]);
    assert_eq!(texts(&s.search(&query(&[w.room_a], Some("o"))).await.unwrap()), vec!["no match", "Go!", "ok then"]);
    let mut q = query(&[w.room_a], Some("o"));
    q.limit = 2;
    assert_eq!(texts(&s.search(&q).await.unwrap()), vec!["no match", "Go!"]);
}

/// One- and two-character texts in other scripts, case-insensitively, as whole posts and inside
/// longer ones, whether the store has indexed the posts yet or not (`finish_import` lets a store
/// that indexes after the commit catch up).
pub async fn search_short_queries_in_any_script<S: Store>(s: &S) {
    let w = world(s).await;
    let posts = ["会", "明天的会议改到三点", "Встреча перенесена", "Ärger im Büro", "x会y", "plain ascii"];
    post_all(s, w.room_a, w.alice, 1_000, &posts).await;
    for round in ["just acknowledged", "after catching up"] {
        let q = |t: &str| query(&[w.room_a], Some(t));
        assert_eq!(texts(&s.search(&q("会")).await.unwrap()), vec!["x会y", "明天的会议改到三点", "会"], "{round}");
        assert_eq!(texts(&s.search(&q("会议")).await.unwrap()), vec!["明天的会议改到三点"], "{round}");
        assert_eq!(texts(&s.search(&q("x会")).await.unwrap()), vec!["x会y"], "{round}: an ASCII and a CJK character");
        assert_eq!(texts(&s.search(&q("вс")).await.unwrap()), vec!["Встреча перенесена"], "{round}: case-insensitive");
        assert_eq!(texts(&s.search(&q("ä")).await.unwrap()), vec!["Ärger im Büro"], "{round}");
        assert_eq!(texts(&s.search(&q("ÜR")).await.unwrap()), vec!["Ärger im Büro"], "{round}");
        assert!(s.search(&q("议会")).await.unwrap().is_empty(), "{round}: the characters in that order");
        assert!(s.search(&q("é")).await.unwrap().is_empty(), "{round}");
        s.finish_import().await.unwrap();
    }
}

/// A replaced or deleted message leaves search at once (before and after the store has indexed
/// the change), and a message posted after them is found at once.
pub async fn search_follows_replacements_and_deletions<S: Store>(s: &S) {
    let w = world(s).await;
    post_all(s, w.room_a, w.alice, 1_000, &["budget draft 会議", "budget final 会議", "budget old 会議"]).await;
    s.finish_import().await.unwrap();
    let found = |t: &'static str| async move { s.search(&query(&[w.room_a], Some(t))).await.unwrap() };
    assert_eq!(found("budget").await.len(), 3);

    let ev = event(ComplianceKind::MessageRemoved, w.room_a, w.bob, 9_000);
    s.replace_messages(w.room_a, &[1], "[gone] 報告", &ev).await.unwrap();
    s.delete_messages(w.room_a, &[3], &ev).await.unwrap();
    post_all(s, w.room_a, w.alice, 9_500, &["budget new 会議"]).await;
    for round in ["at once", "after catching up"] {
        assert_eq!(texts(&found("budget").await), vec!["budget new 会議", "budget final 会議"], "{round}");
        assert_eq!(texts(&found("会議").await), vec!["budget new 会議", "budget final 会議"], "{round}");
        assert_eq!(texts(&found("会").await), vec!["budget new 会議", "budget final 会議"], "{round}");
        assert_eq!(texts(&found("報告").await), vec!["[gone] 報告"], "{round}: the new text is found");
        assert_eq!(texts(&found("gone").await), vec!["[gone] 報告"], "{round}");
        assert!(found("draft").await.is_empty(), "{round}: the old text is not");
        s.finish_import().await.unwrap();
    }
    // Deleting the newest messages frees nothing a later post could be mistaken for.
    s.delete_messages(w.room_a, &[2, 4], &ev).await.unwrap();
    s.finish_import().await.unwrap();
    post_all(s, w.room_a, w.alice, 9_800, &["budget newest"]).await;
    s.finish_import().await.unwrap();
    assert_eq!(texts(&found("budget").await), vec!["budget newest"]);
    assert!(found("会議").await.is_empty());
}

pub async fn search_filters_rooms_author_dates_and_limit<S: Store>(s: &S) {
    let w = world(s).await;
    // ts 1000, 2000, 3000, 4000 in room A, alternating authors, and 2500 in room B, committed in
    // time order as the server commits them ("newest first" is commit order).
    s.commit_posts(vec![
        post(w.room_a, w.alice, 1_000, "report one"),
        post(w.room_a, w.bob, 2_000, "report two"),
        post(w.room_b, w.alice, 2_500, "report beta"),
        post(w.room_a, w.alice, 3_000, "report three"),
        post(w.room_a, w.bob, 4_000, "report four"),
    ])
    .await
    .unwrap();
    let q = |rooms: &[RoomId]| query(rooms, Some("report"));

    assert_eq!(texts(&s.search(&q(&[w.room_b])).await.unwrap()), vec!["report beta"]);
    assert_eq!(
        texts(&s.search(&q(&[w.room_a, w.room_b])).await.unwrap()),
        vec!["report four", "report three", "report beta", "report two", "report one"],
        "newest first across rooms"
    );
    assert!(s.search(&q(&[])).await.unwrap().is_empty(), "no readable rooms, no results");

    let mut by_bob = q(&[w.room_a, w.room_b]);
    by_bob.author = Some(w.bob);
    assert_eq!(texts(&s.search(&by_bob).await.unwrap()), vec!["report four", "report two"]);

    let mut dated = q(&[w.room_a, w.room_b]);
    dated.from_ts = Some(2_000);
    dated.to_ts = Some(3_000);
    assert_eq!(
        texts(&s.search(&dated).await.unwrap()),
        vec!["report three", "report beta", "report two"],
        "bounds are inclusive"
    );
    dated.text = None;
    assert_eq!(s.search(&dated).await.unwrap().len(), 3, "date filter without text");
    dated.text = Some("re".into());
    assert_eq!(s.search(&dated).await.unwrap().len(), 3, "date filter with a short text");

    let mut limited = q(&[w.room_a, w.room_b]);
    limited.limit = 2;
    assert_eq!(texts(&s.search(&limited).await.unwrap()), vec!["report four", "report three"]);
    limited.limit = 0;
    assert!(s.search(&limited).await.unwrap().is_empty());

    // Thousands of readable rooms in the filter.
    let mut many: Vec<RoomId> = (100_000..105_000).collect();
    many.push(w.room_b);
    assert_eq!(texts(&s.search(&q(&many)).await.unwrap()), vec!["report beta"]);
}

/// Search text is a plain substring: query-language characters never cause an error.
pub async fn search_ignores_query_syntax<S: Store>(s: &S) {
    let w = world(s).await;
    post_all(s, w.room_a, w.alice, 1_000, &["deploy AND (rollback)", "say \"hi\" now", "price: 5*3 - 2", "plain"])
        .await;
    for t in
        ["deploy AND (", "\"", "\"hi\"", "NOT", "OR", "*", "a:b", "^x", "NEAR(a b)", "'", "(", "-", "5*3", "{x}", ":"]
    {
        let r = s.search(&query(&[w.room_a], Some(t))).await;
        assert!(r.is_ok(), "query {t:?} failed: {r:?}");
    }
    assert_eq!(
        texts(&s.search(&query(&[w.room_a], Some("deploy AND ("))).await.unwrap()),
        vec!["deploy AND (rollback)"]
    );
    assert_eq!(texts(&s.search(&query(&[w.room_a], Some("\"hi\""))).await.unwrap()), vec!["say \"hi\" now"]);
    assert_eq!(texts(&s.search(&query(&[w.room_a], Some("5*3"))).await.unwrap()), vec!["price: 5*3 - 2"]);
    assert_eq!(texts(&s.search(&query(&[w.room_a], Some("\""))).await.unwrap()), vec!["say \"hi\" now"]);
}

/// LIKE-style wildcards and escapes (`%`, `_`, `\`) are ordinary characters, in short and
/// long queries alike.
pub async fn search_treats_wildcard_characters_literally<S: Store>(s: &S) {
    let w = world(s).await;
    post_all(s, w.room_a, w.alice, 1_000, &["100% done", "file_name.txt", "back\\slash", "filexname", "plain text"])
        .await;
    let found = |t: &'static str| async move { s.search(&query(&[w.room_a], Some(t))).await.unwrap() };
    assert_eq!(texts(&found("%").await), vec!["100% done"]);
    assert_eq!(texts(&found("0% d").await), vec!["100% done"]);
    assert_eq!(texts(&found("_").await), vec!["file_name.txt"]);
    assert_eq!(texts(&found("e_n").await), vec!["file_name.txt"], "`_` is not any character");
    assert_eq!(texts(&found("\\").await), vec!["back\\slash"]);
    assert_eq!(texts(&found("k\\s").await), vec!["back\\slash"]);
    assert!(found("%%%").await.is_empty());
    assert!(found("t%t").await.is_empty(), "`%` is not any run of characters");
}

// ---- admin changes to messages

pub async fn replace_messages_changes_history_search_and_archive<S: Store>(s: &S) {
    let w = world(s).await;
    post_all(s, w.room_a, w.alice, 1_000, &["secret plan alpha", "keep me", "secret plan beta"]).await;
    let mut template = event(ComplianceKind::MessageRemoved, w.room_a, w.bob, 9_000);
    template.detail = json!({ "reason": "leak" });

    let before = s.replace_messages(w.room_a, &[3, 1, 99], "[removed]", &template).await.unwrap();
    let mut before_seqs = seqs(&before);
    before_seqs.sort();
    assert_eq!(before_seqs, vec![1, 3], "returns the found messages as they were");
    assert!(before.iter().all(|m| m.text.starts_with("secret plan") && !m.replaced));

    let got = s.latest_messages(w.room_a, 10).await.unwrap();
    assert_eq!(texts(&got), vec!["[removed]", "keep me", "[removed]"]);
    assert_eq!(got.iter().map(|m| m.replaced).collect::<Vec<_>>(), vec![true, false, true]);
    assert_eq!(got[0].author, w.alice, "author and time are kept");
    assert_eq!(got[0].ts, 1_000);
    assert!(s.search(&query(&[w.room_a], Some("secret"))).await.unwrap().is_empty(), "old text is gone from search");
    assert_eq!(s.search(&query(&[w.room_a], Some("removed"))).await.unwrap().len(), 2, "new text is searchable");

    let mut replaced: Vec<_> =
        all_events(s).await.into_iter().map(|(_, e)| e).filter(|e| e.kind == ComplianceKind::MessageRemoved).collect();
    replaced.sort_by_key(|e| e.seq);
    assert_eq!(replaced.len(), 2);
    for (e, (seq, original)) in replaced.iter().zip([(1, "secret plan alpha"), (3, "secret plan beta")]) {
        assert_eq!((e.seq, e.room, e.user, e.ts), (Some(seq), w.room_a, w.bob, 9_000));
        assert_eq!(e.detail["original"], json!(original));
        assert_eq!(e.detail["replacement"], json!("[removed]"));
        assert_eq!(e.detail["reason"], json!("leak"), "the template's detail is kept");
    }
}

pub async fn clear_room_deletes_up_to_a_time_and_keeps_seqs<S: Store>(s: &S) {
    let w = world(s).await;
    // ts 1000..5000
    post_all(s, w.room_a, w.alice, 1_000, &["one", "two", "three", "four", "five"]).await;
    post_all(s, w.room_b, w.alice, 1_000, &["other one"]).await;
    let ev = event(ComplianceKind::RoomCleared, w.room_a, w.bob, 9_000);

    assert_eq!(s.count_messages_up_to(w.room_a, 3_000).await.unwrap(), 3, "what a clear would delete");
    assert!(all_events(s).await.iter().all(|(_, e)| e.kind != ComplianceKind::RoomCleared), "counting records nothing");
    assert_eq!(s.clear_room(w.room_a, 3_000, 100, &ev).await.unwrap(), 3, "ts <= up_to, inclusive");
    assert_eq!(s.count_messages_up_to(w.room_a, 3_000).await.unwrap(), 0);
    assert_eq!(texts(&s.latest_messages(w.room_a, 10).await.unwrap()), vec!["four", "five"]);
    assert_eq!(texts(&s.latest_messages(w.room_b, 10).await.unwrap()), vec!["other one"], "other rooms untouched");
    assert!(s.search(&query(&[w.room_a], Some("one"))).await.unwrap().is_empty(), "cleared text leaves search");
    assert!(s.search(&query(&[w.room_a], Some("o"))).await.unwrap().iter().all(|m| m.seq > 3));
    assert_eq!(room_of(s, w.room_a).await.unwrap().1, 5, "last_seq is kept");
    assert_eq!(post_all(s, w.room_a, w.alice, 10_000, &["six"]).await, vec![6], "numbers are not reused");

    let cleared: Vec<_> =
        all_events(s).await.into_iter().filter(|(_, e)| e.kind == ComplianceKind::RoomCleared).collect();
    assert_eq!(cleared.len(), 1);
    let e = &cleared[0].1;
    assert_eq!((e.room, e.user, e.ts), (w.room_a, w.bob, 9_000));
    assert_eq!(e.detail["count"], json!(3));
    assert_eq!(e.detail["reason"], json!("test"));

    assert_eq!(s.clear_room(w.room_a, 100_000, 100, &ev).await.unwrap(), 3);
    assert!(s.latest_messages(w.room_a, 10).await.unwrap().is_empty());
    assert_eq!(post_all(s, w.room_a, w.alice, 20_000, &["seven"]).await, vec![7]);
    assert_eq!(s.clear_room(w.room_a, 1_000, 100, &ev).await.unwrap(), 0);
    let cleared = all_events(s).await.into_iter().filter(|(_, e)| e.kind == ComplianceKind::RoomCleared).count();
    assert_eq!(cleared, 2, "clearing nothing records nothing");
}

pub async fn clear_room_in_batches_takes_the_oldest_first<S: Store>(s: &S) {
    let w = world(s).await;
    // ts 1000..5000
    post_all(s, w.room_a, w.alice, 1_000, &["one", "two", "three", "four", "five"]).await;
    let ev = event(ComplianceKind::RoomCleared, w.room_a, w.bob, 9_000);
    assert_eq!(s.clear_room(w.room_a, 4_000, 2, &ev).await.unwrap(), 2, "at most the limit");
    assert_eq!(texts(&s.latest_messages(w.room_a, 10).await.unwrap()), vec!["three", "four", "five"]);
    assert_eq!(s.clear_room(w.room_a, 4_000, 2, &ev).await.unwrap(), 2);
    assert_eq!(s.clear_room(w.room_a, 4_000, 2, &ev).await.unwrap(), 0, "nothing older is left");
    assert_eq!(texts(&s.latest_messages(w.room_a, 10).await.unwrap()), vec!["five"]);
    let counts: Vec<_> = all_events(s)
        .await
        .into_iter()
        .filter(|(_, e)| e.kind == ComplianceKind::RoomCleared)
        .map(|(_, e)| e.detail["count"].clone())
        .collect();
    assert_eq!(counts, vec![json!(2), json!(2)], "one event per batch that deleted something");
}

pub async fn scan_messages_walks_a_room_with_filters<S: Store>(s: &S) {
    let w = world(s).await;
    // ts 1000..6000, alternating authors
    for (i, text) in ["a1", "b2", "a3", "b4", "a5", "b6"].iter().enumerate() {
        let author = if i % 2 == 0 { w.alice } else { w.bob };
        post_all(s, w.room_a, author, 1_000 * (i as i64 + 1), &[text]).await;
    }
    post_all(s, w.room_b, w.alice, 1_000, &["elsewhere"]).await;
    let scan =
        |after, author, from_ts, to_ts, limit| MessageScan { room: w.room_a, after, author, from_ts, to_ts, limit };
    assert_eq!(texts(&s.scan_messages(&scan(0, None, None, None, 4)).await.unwrap()), vec!["a1", "b2", "a3", "b4"]);
    assert_eq!(texts(&s.scan_messages(&scan(4, None, None, None, 4)).await.unwrap()), vec!["a5", "b6"], "next page");
    assert_eq!(texts(&s.scan_messages(&scan(0, Some(w.bob), None, None, 10)).await.unwrap()), vec!["b2", "b4", "b6"]);
    assert_eq!(
        texts(&s.scan_messages(&scan(0, None, Some(2_000), Some(4_000), 10)).await.unwrap()),
        vec!["b2", "a3", "b4"],
        "both ends inclusive"
    );
    assert_eq!(
        texts(&s.scan_messages(&scan(2, Some(w.alice), Some(1_000), Some(5_000), 10)).await.unwrap()),
        vec!["a3", "a5"]
    );
}

pub async fn delete_messages_removes_outright_and_records_originals<S: Store>(s: &S) {
    let w = world(s).await;
    post_all(s, w.room_a, w.alice, 1_000, &["secret one", "keep", "secret two"]).await;
    let ev = event(ComplianceKind::MessageRemoved, w.room_a, w.bob, 9_000);
    let before = s.delete_messages(w.room_a, &[3, 1, 99, 1], &ev).await.unwrap();
    assert_eq!(seqs(&before), vec![1, 3], "the found messages as they were, once each");
    assert_eq!(texts(&s.latest_messages(w.room_a, 10).await.unwrap()), vec!["keep"]);
    assert!(s.search(&query(&[w.room_a], Some("secret"))).await.unwrap().is_empty(), "gone from search");
    let removed: Vec<_> =
        all_events(s).await.into_iter().map(|(_, e)| e).filter(|e| e.kind == ComplianceKind::MessageRemoved).collect();
    assert_eq!(removed.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![Some(1), Some(3)]);
    assert_eq!(removed[0].detail["original"], json!("secret one"));
    assert_eq!(removed[1].detail["original"], json!("secret two"));
    assert_eq!(post_all(s, w.room_a, w.alice, 10_000, &["four"]).await, vec![4], "numbers are not reused");
}

// ---- room content size

pub async fn room_content_size_follows_posts_replacements_and_deletions<S: Store>(s: &S) {
    let w = world(s).await;
    assert!(s.rooms_larger_than(0).await.unwrap().is_empty(), "new rooms hold nothing");
    // "é" is two bytes of UTF-8; a story title counts too.
    let mut story = post(w.room_a, w.alice, 1_000, "0123456789");
    story.story_title = Some("titlé".into());
    s.commit_posts(vec![story, post(w.room_a, w.alice, 2_000, "héllo")]).await.unwrap();
    post_all(s, w.room_b, w.bob, 1_000, &["xyz"]).await;
    let mut unkept = post(w.room_b, w.bob, 5_000, "not kept, not counted");
    unkept.keep = false;
    s.commit_posts(vec![unkept]).await.unwrap();
    assert_eq!(s.rooms_larger_than(0).await.unwrap(), vec![(w.room_a, 10 + 6 + 6), (w.room_b, 3)]);
    assert_eq!(s.rooms_larger_than(3).await.unwrap(), vec![(w.room_a, 22)], "strictly larger");

    let ev = event(ComplianceKind::MessageReplaced, w.room_a, w.bob, 9_000);
    s.replace_messages(w.room_a, &[2], "hi", &ev).await.unwrap();
    assert_eq!(s.rooms_larger_than(0).await.unwrap()[0], (w.room_a, 10 + 6 + 2));
    s.delete_messages(w.room_a, &[1], &event(ComplianceKind::MessageRemoved, w.room_a, w.bob, 9_000)).await.unwrap();
    assert_eq!(s.rooms_larger_than(0).await.unwrap()[0], (w.room_a, 2));
    s.clear_room(w.room_b, 10_000, 100, &event(ComplianceKind::RoomCleared, w.room_b, w.bob, 9_000)).await.unwrap();
    assert_eq!(s.rooms_larger_than(0).await.unwrap(), vec![(w.room_a, 2)], "a cleared room holds nothing");
}

// ---- the usage report

pub async fn usage_counts_rooms_authors_and_days<S: Store>(s: &S) {
    const DAY: i64 = 86_400_000;
    let w = world(s).await;
    post_all(s, w.room_a, w.alice, 1_000, &["a", "b", "c"]).await; // day 0: ts 1000, 2000, 3000
    post_all(s, w.room_a, w.bob, DAY + 5_000, &["d"]).await; // day 1
    post_all(s, w.room_b, w.alice, 10 * DAY, &["e", "f"]).await; // day 10
    let all = s.usage(0, 100 * DAY).await.unwrap();
    let room = |room, messages, last_post| RoomUsage { room, messages, last_post };
    assert_eq!(all.rooms, vec![room(w.room_a, 4, Some(DAY + 5_000)), room(w.room_b, 2, Some(10 * DAY + 1_000))]);
    let mut users = all.users.clone();
    users.sort();
    let mut want = vec![(w.alice, 5), (w.bob, 1)];
    want.sort();
    assert_eq!(users, want);
    assert_eq!(all.days, vec![(0, 3), (1, 1), (10, 2)]);

    // Both ends inclusive; the latest post is of any time.
    let window = s.usage(2_000, DAY + 5_000).await.unwrap();
    assert_eq!(window.rooms, vec![room(w.room_a, 3, Some(DAY + 5_000)), room(w.room_b, 0, Some(10 * DAY + 1_000))]);
    let mut users = window.users.clone();
    users.sort();
    let mut want = vec![(w.alice, 2), (w.bob, 1)];
    want.sort();
    assert_eq!(users, want);
    assert_eq!(window.days, vec![(0, 2), (1, 1)]);

    // Cleared messages no longer count.
    s.clear_room(w.room_b, 100 * DAY, 100, &event(ComplianceKind::RoomCleared, w.room_b, w.bob, 1)).await.unwrap();
    let after = s.usage(0, 100 * DAY).await.unwrap();
    assert_eq!(after.rooms[1], room(w.room_b, 0, None));
    assert_eq!(after.days, vec![(0, 3), (1, 1)]);
}

// ---- following, read positions, invitations

pub async fn follows_and_read_positions<S: Store>(s: &S) {
    let w = world(s).await;
    assert!(s.followed(w.alice).await.unwrap().is_empty());
    s.set_followed(w.alice, w.room_b, true).await.unwrap();
    s.set_followed(w.alice, w.room_a, true).await.unwrap();
    s.set_followed(w.alice, w.room_a, true).await.unwrap();
    let mut got = s.followed(w.alice).await.unwrap();
    got.sort_by_key(|f| f.room);
    assert_eq!(got, vec![Followed { room: w.room_a, read_seq: 0 }, Followed { room: w.room_b, read_seq: 0 }]);
    assert!(s.followed(w.bob).await.unwrap().is_empty(), "follows are per user");

    s.set_read(w.alice, w.room_a, 5).await.unwrap();
    s.set_read(w.alice, w.room_a, 3).await.unwrap();
    let read_a = |v: Vec<Followed>| v.into_iter().find(|f| f.room == w.room_a).map(|f| f.read_seq);
    assert_eq!(read_a(s.followed(w.alice).await.unwrap()), Some(5), "never moves back");
    s.set_read(w.alice, w.room_a, 8).await.unwrap();
    assert_eq!(read_a(s.followed(w.alice).await.unwrap()), Some(8));

    s.set_followed(w.alice, w.room_a, false).await.unwrap();
    assert_eq!(s.followed(w.alice).await.unwrap().iter().map(|f| f.room).collect::<Vec<_>>(), vec![w.room_b]);
    s.set_followed(w.alice, w.room_a, true).await.unwrap();
    assert_eq!(read_a(s.followed(w.alice).await.unwrap()), Some(8), "read position outlives an unfollow");

    // A read position without following is kept and shows once followed.
    s.set_read(w.bob, w.room_b, 4).await.unwrap();
    assert!(s.followed(w.bob).await.unwrap().is_empty());
    s.set_followed(w.bob, w.room_b, true).await.unwrap();
    assert_eq!(s.followed(w.bob).await.unwrap(), vec![Followed { room: w.room_b, read_seq: 4 }]);
}

pub async fn invitations_have_per_user_ids<S: Store>(s: &S) {
    let w = world(s).await;
    let carol = s.insert_user(&user("carol@example.org"), "h").await.unwrap();
    let first = s.add_invitations(w.room_a, &[w.bob, carol], 1_000).await.unwrap();
    assert_eq!(
        first.iter().map(|i| (i.user, i.room, i.ts)).collect::<Vec<_>>(),
        vec![(w.bob, w.room_a, 1_000), (carol, w.room_a, 1_000)]
    );
    let second = s.add_invitations(w.room_b, &[carol], 2_000).await.unwrap();
    assert!(second[0].id > first[1].id, "per-user ids increase");
    let bob_next = s.add_invitations(w.room_b, &[w.bob], 3_000).await.unwrap();
    assert!(bob_next[0].id > first[0].id);

    let carol_all = s.invitations_after(carol, 0, 10).await.unwrap();
    assert_eq!(carol_all.iter().map(|i| i.room).collect::<Vec<_>>(), vec![w.room_a, w.room_b]);
    assert_eq!(carol_all, vec![first[1].clone(), second[0].clone()]);
    assert_eq!(s.invitations_after(carol, first[1].id, 10).await.unwrap(), vec![second[0].clone()]);
    assert_eq!(s.invitations_after(carol, 0, 1).await.unwrap(), vec![first[1].clone()], "limit");
    assert!(s.invitations_after(w.alice, 0, 10).await.unwrap().is_empty());

    // Inviting again gives a fresh id, so a client that saw the old one sees it again.
    let again = s.add_invitations(w.room_a, &[carol], 4_000).await.unwrap();
    assert!(again[0].id > second[0].id);
    let newer = s.invitations_after(carol, second[0].id, 10).await.unwrap();
    assert_eq!(newer, vec![again[0].clone()]);
    let all = s.invitations_after(carol, 0, 10).await.unwrap();
    assert_eq!(all.iter().filter(|i| i.room == w.room_a).count(), 1, "one invitation per room");
}

pub async fn a_dismissed_invitation_is_gone<S: Store>(s: &S) {
    let w = world(s).await;
    let bob = s.add_invitations(w.room_a, &[w.bob], 1_000).await.unwrap();
    let carol = s.insert_user(&user("carol@example.org"), "h").await.unwrap();
    let carols = s.add_invitations(w.room_a, &[carol], 1_000).await.unwrap();
    // Ids are per user: carol's id is bob's too, and only the user's own is removed.
    assert_eq!(bob[0].id, carols[0].id);
    s.delete_invitation(w.bob, bob[0].id).await.unwrap();
    assert!(s.invitations_after(w.bob, 0, 10).await.unwrap().is_empty());
    assert_eq!(s.invitations_after(carol, 0, 10).await.unwrap(), carols);
    s.delete_invitation(w.bob, bob[0].id).await.unwrap();
    s.delete_invitation(w.bob, 999).await.unwrap();
    // A later invitation to the same room shows again.
    let again = s.add_invitations(w.room_a, &[w.bob], 2_000).await.unwrap();
    assert_eq!(s.invitations_after(w.bob, 0, 10).await.unwrap(), again);
}

pub async fn alerts_are_counted_above_a_read_position<S: Store>(s: &S) {
    let w = world(s).await;
    let mut posts: Vec<NewPost> =
        (0..6).map(|i| post(w.room_a, w.alice, 1_000 + i, &format!("m{i}"))).collect::<Vec<_>>();
    for i in [1, 3, 4] {
        posts[i].alert = true;
    }
    // Not kept (a category without history): numbered but never counted.
    posts[4].keep = false;
    s.commit_posts(posts).await.unwrap();
    assert_eq!(s.count_alerts_after(w.room_a, 0).await.unwrap(), 2);
    assert_eq!(s.count_alerts_after(w.room_a, 2).await.unwrap(), 1);
    assert_eq!(s.count_alerts_after(w.room_a, 4).await.unwrap(), 0);
    assert_eq!(s.count_alerts_after(w.room_b, 0).await.unwrap(), 0, "per room");
}

// ---- files and compliance

pub async fn files_insert_get_and_upload_event<S: Store>(s: &S) {
    let w = world(s).await;
    let mut f = FileMeta {
        id: 0,
        room: w.room_a,
        uploader: w.bob,
        key: "abc_123-x".into(),
        name: "diagram.png".into(),
        content_type: "image/png".into(),
        size: 5 << 30,
        ts: 7_000,
    };
    let mut ev = event(ComplianceKind::FileUpload, w.room_a, w.bob, 7_000);
    ev.detail = json!({ "name": "diagram.png", "size": 5u64 << 30 });
    f.id = s.insert_file(&f, &ev).await.unwrap();
    assert!(f.id > 0);
    assert_eq!(s.get_file(f.id).await.unwrap(), Some(f.clone()));
    assert_eq!(s.get_file(f.id + 100).await.unwrap(), None);

    let events = all_events(s).await;
    assert_eq!(events.len(), 1);
    let e = &events[0].1;
    assert_eq!((e.kind, e.room, e.user, e.ts), (ComplianceKind::FileUpload, w.room_a, w.bob, 7_000));
    assert_eq!(e.detail["file_id"], json!(f.id));
    assert_eq!(e.detail["name"], json!("diagram.png"));

    let mut orphan = f.clone();
    orphan.room = w.room_a + w.room_b + 100;
    assert!(s.insert_file(&orphan, &ev).await.is_err(), "file in a missing room");
    assert_eq!(all_events(s).await.len(), 1, "a failed insert records nothing");
}

pub async fn record_compliance_keeps_order_and_pages<S: Store>(s: &S) {
    let kinds = ComplianceKind::ALL;
    let events: Vec<ComplianceEvent> = (0..25)
        .map(|i| {
            let mut e = event(kinds[i % kinds.len()], 1 + i as i64 % 3, 7, 1_000 + i as i64);
            e.seq = (i % 2 == 0).then_some(i as i64);
            e.detail = json!({ "n": i, "nested": { "list": [1, 2, 3] }, "text": "ünïcødé ✓" });
            e
        })
        .collect();
    s.record_compliance(events[..10].to_vec()).await.unwrap();
    s.record_compliance(Vec::new()).await.unwrap();
    s.record_compliance(events[10..].to_vec()).await.unwrap();

    let got = all_events(s).await;
    assert_eq!(got.iter().map(|(_, e)| e.clone()).collect::<Vec<_>>(), events, "every field, in order");
    assert!(got.windows(2).all(|p| p[0].0 < p[1].0), "ids ascend");

    let page1 = s.compliance_events(0, 10).await.unwrap();
    let page2 = s.compliance_events(page1.last().unwrap().0, 10).await.unwrap();
    assert_eq!(page1.len(), 10);
    assert_eq!(page2.len(), 10);
    assert_eq!(page2[0].1, events[10]);
    assert!(s.compliance_events(got.last().unwrap().0, 10).await.unwrap().is_empty());
}

/// JOIN events open a participation, the PART of the same connection and room closes it;
/// what is open when a server starts was cut off by a crash.
pub async fn open_participations_follow_join_and_part_events<S: Store>(s: &S) {
    let at = |kind, room, user, conn: i64| {
        let mut e = event(kind, room, user, 1_000);
        e.detail = json!({ "connection": conn });
        e
    };
    assert!(s.open_participations().await.unwrap().is_empty());
    s.record_compliance(vec![
        at(ComplianceKind::Join, 1, 7, 10),
        at(ComplianceKind::Join, 2, 7, 10),
        at(ComplianceKind::Join, 1, 8, 11),
        at(ComplianceKind::Chat, 1, 8, 11),
    ])
    .await
    .unwrap();
    // Joining again on the same connection is still one participation.
    s.record_compliance(vec![at(ComplianceKind::Join, 2, 7, 10)]).await.unwrap();
    s.record_compliance(vec![at(ComplianceKind::Part, 1, 7, 10)]).await.unwrap();
    let open = s.open_participations().await.unwrap();
    assert_eq!(
        open,
        vec![
            OpenParticipation { connection: 10, room: 2, user: 7 },
            OpenParticipation { connection: 11, room: 1, user: 8 },
        ]
    );
    s.clear_open_participations().await.unwrap();
    assert!(s.open_participations().await.unwrap().is_empty());
    assert_eq!(all_events(s).await.len(), 6, "the events themselves stay");
}

/// A snapshot lists the file records of its moment and streams every part whole; what is
/// written after it is not in it.
pub async fn snapshot_is_whole_and_of_one_moment<S: Store>(s: &S) {
    let w = world(s).await;
    let file = |key: &str, size| FileMeta {
        id: 0,
        room: w.room_a,
        uploader: w.bob,
        key: key.into(),
        name: format!("{key}.txt"),
        content_type: "text/plain".into(),
        size,
        ts: 7_000,
    };
    let ev = event(ComplianceKind::FileUpload, w.room_a, w.bob, 7_000);
    s.insert_file(&file("first", 11), &ev).await.unwrap();
    s.insert_file(&file("second", 22), &ev).await.unwrap();
    let snap = s.snapshot().await.unwrap();
    s.insert_file(&file("after", 33), &ev).await.unwrap();
    assert_eq!(snap.files, vec![("first".to_owned(), 11), ("second".to_owned(), 22)]);
    assert!(!snap.parts.is_empty());
    for mut part in snap.parts {
        let mut got = 0u64;
        while let Some(chunk) = std::future::poll_fn(|cx| part.bytes.as_mut().poll_next(cx)).await {
            got += chunk.unwrap().len() as u64;
        }
        assert_eq!(got, part.size, "{} streams exactly its size", part.name);
        assert!(part.size > 0, "{} is not empty", part.name);
    }
}

/// Failed writes surface as errors of the right kind, not panics or silent success.
pub async fn missing_references_are_errors<S: Store>(s: &S) {
    let w = world(s).await;
    let nobody = w.alice + w.bob + 1_000;
    let nowhere = w.room_a + w.room_b + 1_000;
    assert!(s.set_followed(w.alice, nowhere, true).await.is_err());
    assert!(s.set_read(nobody, w.room_a, 1).await.is_err());
    assert!(s.add_invitations(w.room_a, &[w.bob, nobody], 1).await.is_err());
    assert!(s.invitations_after(w.bob, 0, 10).await.unwrap().is_empty(), "a failed call invites no one");
    assert!(matches!(
        s.clear_room(nowhere, 1, 100, &event(ComplianceKind::RoomCleared, nowhere, w.alice, 1)).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(all_events(s).await.is_empty());
}

// ---- compliance processing

fn run_record(server: &str, started: Millis, error: Option<&str>) -> ComplianceRun {
    ComplianceRun {
        id: 0,
        server: server.to_owned(),
        started,
        finished: started + 5,
        batch_id: None,
        first_event: None,
        last_event: None,
        events: 0,
        files: 0,
        recovered: false,
        error: error.map(str::to_owned),
    }
}

fn intent_for(batch: BatchRange, holder: &str, names: &[&str]) -> PublishIntent {
    PublishIntent {
        batch_id: format!("{}-{}", batch.first, batch.last),
        batch,
        holder: holder.to_owned(),
        started: 42,
        files: names
            .iter()
            .map(|n| PublishFile { temp: format!("/out/.tmp-{n}"), final_path: format!("/out/{n}") })
            .collect(),
    }
}

/// Records `n` events in rooms 3, 1, 2, 3, 1, 2, … and returns their ids.
async fn record_in_rooms<S: Store>(s: &S, n: usize) -> Vec<i64> {
    let before = all_events(s).await.last().map(|(id, _)| *id).unwrap_or(0);
    let events = (0..n).map(|i| event(ComplianceKind::Chat, [3, 1, 2][i % 3], 7, 1_000 + i as i64)).collect();
    s.record_compliance(events).await.unwrap();
    all_events(s).await.into_iter().map(|(id, _)| id).filter(|id| *id > before).collect()
}

pub async fn compliance_config_round_trips<S: Store>(s: &S) {
    assert_eq!(s.compliance_config().await.unwrap(), None, "never set: the caller applies the defaults");
    let mut c = ComplianceConfig {
        enabled: true,
        adapter: "command".into(),
        output_dir: Some("/srv/archive/ünïcødé".into()),
        run_interval_secs: 60,
        one_chat_room_per_output_file: true,
        add_chat_room_details: true,
        add_user_details: true,
        create_file_attachments_manifest: true,
        custom_configuration: Some("<xsl:stylesheet/>".into()),
        command: vec!["/usr/bin/archiver".into(), "--to".into(), "vault one".into()],
    };
    s.put_compliance_config(&c).await.unwrap();
    assert_eq!(s.compliance_config().await.unwrap().as_ref(), Some(&c));
    c = ComplianceConfig::default();
    s.put_compliance_config(&c).await.unwrap();
    assert_eq!(s.compliance_config().await.unwrap(), Some(c), "a put replaces every value, None included");
}

pub async fn compliance_lease_is_exclusive_and_expires<S: Store>(s: &S) {
    assert_eq!(s.compliance_state().await.unwrap().lease, None);
    assert!(s.acquire_compliance_lease("a", 1_000, 100).await.unwrap());
    let lease = s.compliance_state().await.unwrap().lease;
    assert_eq!(lease, Some(ComplianceLease { holder: "a".into(), expires: 1_100 }));
    assert!(!s.acquire_compliance_lease("b", 1_050, 100).await.unwrap(), "held by a");
    assert!(s.renew_compliance_lease("a", 1_050, 100).await.unwrap());
    assert!(!s.renew_compliance_lease("b", 1_050, 100).await.unwrap(), "b does not hold it");
    assert!(!s.acquire_compliance_lease("b", 1_149, 100).await.unwrap(), "renewed until 1150");
    assert!(s.acquire_compliance_lease("b", 1_150, 100).await.unwrap(), "a's lease ran out: b takes it");
    assert!(!s.renew_compliance_lease("a", 1_160, 100).await.unwrap(), "a lost it");
    assert!(!s.acquire_compliance_lease("a", 1_160, 100).await.unwrap());
    s.release_compliance_lease("a").await.unwrap();
    assert_eq!(
        s.compliance_state().await.unwrap().lease.map(|l| l.holder),
        Some("b".into()),
        "only the holder releases"
    );
    assert!(s.acquire_compliance_lease("b", 1_170, 100).await.unwrap(), "the holder may take it again");
    s.release_compliance_lease("b").await.unwrap();
    assert_eq!(s.compliance_state().await.unwrap().lease, None);
    assert!(s.acquire_compliance_lease("a", 1_180, 100).await.unwrap(), "free again");
    assert!(!s.renew_compliance_lease("a", 1_280, 100).await.unwrap(), "a holder whose time ran out can't renew");
}

pub async fn compliance_batches_follow_the_watermark<S: Store>(s: &S) {
    assert_eq!(s.next_compliance_batch(10).await.unwrap(), None, "nothing recorded");
    let ids = record_in_rooms(s, 10).await;
    let batch = s.next_compliance_batch(4).await.unwrap().expect("a batch");
    assert_eq!(batch, BatchRange { after: 0, first: ids[0], last: ids[3], events: 4 });
    // Events recorded after the batch was chosen are not in it.
    record_in_rooms(s, 2).await;

    // The batch, room by room, then by id, in pages.
    let all = s.compliance_batch_page(batch, (RoomId::MIN, i64::MIN), 100).await.unwrap();
    let order: Vec<(RoomId, i64)> = all.iter().map(|(id, e)| (e.room, *id)).collect();
    assert_eq!(order, vec![(1, ids[1]), (2, ids[2]), (3, ids[0]), (3, ids[3])]);
    let mut paged = Vec::new();
    let mut cursor = (RoomId::MIN, i64::MIN);
    loop {
        let page = s.compliance_batch_page(batch, cursor, 1).await.unwrap();
        let Some((id, e)) = page.last() else { break };
        cursor = (e.room, *id);
        paged.extend(page);
    }
    assert_eq!(paged, all, "paging by (room, id) gives the same sequence");

    // A failed run moves nothing.
    s.finish_compliance_run(&run_record("a", 10, Some("the disk is full")), None).await.unwrap();
    assert_eq!(s.compliance_state().await.unwrap().watermark, 0);
    assert_eq!(s.next_compliance_batch(4).await.unwrap(), Some(batch), "the same batch again");

    // A committed batch moves the watermark to its last event.
    s.finish_compliance_run(&run_record("a", 20, None), Some(batch)).await.unwrap();
    assert_eq!(s.compliance_state().await.unwrap().watermark, ids[3]);
    let next = s.next_compliance_batch(100).await.unwrap().expect("the rest");
    assert_eq!((next.after, next.first, next.events), (ids[3], ids[4], 8));

    // Committing the same batch twice is refused and writes nothing.
    let runs = s.compliance_runs(100).await.unwrap().len();
    assert!(matches!(
        s.finish_compliance_run(&run_record("b", 30, None), Some(batch)).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.compliance_runs(100).await.unwrap().len(), runs, "no run record for a refused commit");
    assert_eq!(s.compliance_state().await.unwrap().watermark, ids[3]);
}

pub async fn compliance_publish_intent_fences_the_commit<S: Store>(s: &S) {
    let ids = record_in_rooms(s, 6).await;
    let batch = s.next_compliance_batch(3).await.unwrap().unwrap();
    let intent = intent_for(batch, "a", &["one.xml", "two.xml"]);
    let conflict = |r: longhall_core::StoreResult<()>, what: &str| {
        assert!(matches!(r, Err(StoreError::Conflict(_))), "{what}: expected Conflict, got {r:?}");
    };
    conflict(s.begin_compliance_publish(&intent, 1_000).await, "without the lease");
    assert_eq!(s.compliance_state().await.unwrap().intent, None);
    assert!(s.acquire_compliance_lease("a", 1_000, 100).await.unwrap());
    conflict(s.begin_compliance_publish(&intent, 1_100).await, "with an expired lease");
    let stale = intent_for(BatchRange { after: ids[0], ..batch }, "a", &["x"]);
    conflict(s.begin_compliance_publish(&stale, 1_000).await, "from another watermark");
    s.begin_compliance_publish(&intent, 1_050).await.unwrap();
    assert_eq!(s.compliance_state().await.unwrap().intent.as_ref(), Some(&intent), "every field");

    // Only one intent: another batch is refused, the same batch replaces it.
    let other = intent_for(BatchRange { last: ids[4], events: 5, ..batch }, "a", &["other.xml"]);
    conflict(s.begin_compliance_publish(&other, 1_050).await, "a second batch");
    let again = intent_for(batch, "a", &["one.xml", "two.xml", "three.xml"]);
    s.begin_compliance_publish(&again, 1_060).await.unwrap();
    assert_eq!(s.compliance_state().await.unwrap().intent, Some(again));

    // The intent survives the lease (whoever takes over completes it) …
    assert!(s.acquire_compliance_lease("b", 2_000, 100).await.unwrap());
    assert!(s.compliance_state().await.unwrap().intent.is_some());
    // … and only the commit of its own batch clears it, with the watermark.
    let bigger = BatchRange { last: ids[4], events: 4, ..batch };
    assert!(matches!(
        s.finish_compliance_run(&run_record("b", 2_000, None), Some(bigger)).await,
        Err(StoreError::Conflict(_))
    ));
    s.finish_compliance_run(&run_record("b", 2_000, Some("a failure")), None).await.unwrap();
    assert!(s.compliance_state().await.unwrap().intent.is_some(), "a failed run leaves the intent");
    s.finish_compliance_run(&run_record("b", 2_010, None), Some(batch)).await.unwrap();
    let state = s.compliance_state().await.unwrap();
    assert_eq!((state.watermark, state.intent), (ids[2], None));
}

pub async fn compliance_runs_are_listed_newest_first<S: Store>(s: &S) {
    assert!(s.compliance_runs(10).await.unwrap().is_empty());
    let ids = record_in_rooms(s, 2).await;
    let batch = s.next_compliance_batch(10).await.unwrap().unwrap();
    let full = ComplianceRun {
        id: 0,
        server: "host:1:ab".into(),
        started: 100,
        finished: 250,
        batch_id: Some("b-1".into()),
        first_event: Some(ids[0]),
        last_event: Some(ids[1]),
        events: 2,
        files: 3,
        recovered: true,
        error: None,
    };
    let first = s.finish_compliance_run(&run_record("a", 10, Some("no space left")), None).await.unwrap();
    let second = s.finish_compliance_run(&full, Some(batch)).await.unwrap();
    let third = s.finish_compliance_run(&run_record("a", 300, None), None).await.unwrap();
    assert!(first < second && second < third, "run ids ascend");
    let runs = s.compliance_runs(10).await.unwrap();
    assert_eq!(runs.iter().map(|r| r.id).collect::<Vec<_>>(), vec![third, second, first]);
    assert_eq!(runs[1], ComplianceRun { id: second, ..full }, "every field");
    assert_eq!(runs[2].error.as_deref(), Some("no space left"));
    assert_eq!(s.compliance_runs(1).await.unwrap()[0].id, third);
}

pub async fn prune_deletes_only_processed_events<S: Store>(s: &S) {
    let ids = record_in_rooms(s, 5).await;
    assert_eq!(s.prune_compliance_events(100).await.unwrap(), 0, "nothing is processed yet");
    let batch = s.next_compliance_batch(3).await.unwrap().unwrap();
    s.finish_compliance_run(&run_record("a", 1, None), Some(batch)).await.unwrap();
    assert_eq!(s.prune_compliance_events(2).await.unwrap(), 2, "at most the limit");
    assert_eq!(s.prune_compliance_events(100).await.unwrap(), 1);
    assert_eq!(s.prune_compliance_events(100).await.unwrap(), 0);
    let left: Vec<i64> = all_events(s).await.into_iter().map(|(id, _)| id).collect();
    assert_eq!(left, ids[3..].to_vec(), "the unprocessed events stay");
    let more = record_in_rooms(s, 1).await;
    assert!(more[0] > ids[4], "ids are not reused after a prune");
    let next = s.next_compliance_batch(10).await.unwrap().unwrap();
    assert_eq!((next.after, next.first, next.last, next.events), (ids[2], ids[3], more[0], 3));
}

// ---- concurrency

/// Many calls in flight at once (the writer may commit them together): every post gets a
/// dense, unique sequence number of its room, and the compliance records of a room's posts
/// have ascending ids in sequence order.
pub async fn concurrent_posts_get_dense_seqs_and_ordered_records<S: Store>(s: &S) {
    let w = world(s).await;
    let rooms = [w.room_a, w.room_b];
    let calls: Vec<Vec<NewPost>> = (0..60i64)
        .map(|t| {
            // Calls of one to three posts, interleaving both rooms.
            (0..1 + t % 3)
                .map(|k| post(rooms[((t + k) % 2) as usize], w.alice, 1_000 + t, &format!("t{t} k{k}")))
                .collect()
        })
        .collect();
    let sent: Vec<Vec<RoomId>> = calls.iter().map(|c| c.iter().map(|p| p.room).collect()).collect();
    let results = futures_util::future::join_all(calls.into_iter().map(|c| s.commit_posts(c))).await;
    let mut by_room: std::collections::BTreeMap<RoomId, Vec<Seq>> = Default::default();
    for (rooms, seqs) in sent.into_iter().zip(results) {
        let seqs = seqs.expect("post committed");
        assert_eq!(seqs.len(), rooms.len());
        for (room, seq) in rooms.into_iter().zip(seqs) {
            by_room.entry(room).or_default().push(seq);
        }
    }
    let mut total = 0;
    for (room, mut seqs) in by_room {
        seqs.sort_unstable();
        let n = seqs.len() as i64;
        assert_eq!(seqs, (1..=n).collect::<Vec<_>>(), "room {room}: dense, no duplicates, none missing");
        assert_eq!(room_of(s, room).await.unwrap().1, n);
        assert_eq!(crate::support::seqs(&s.messages_after(room, 0, 10_000).await.unwrap()), seqs);
        let records: Vec<Seq> =
            all_events(s).await.into_iter().filter(|(_, e)| e.room == room).filter_map(|(_, e)| e.seq).collect();
        assert_eq!(records, seqs, "room {room}: records in id order follow the sequence numbers");
        total += n;
    }
    assert_eq!(all_events(s).await.len() as i64, total, "one CHAT record per post");
}

/// Writes in flight together: a conflicting one fails alone, with `Conflict`, and the others
/// (including a compliance record queued between them) are kept.
pub async fn a_failing_write_among_concurrent_ones_fails_alone<S: Store>(s: &S) {
    let k = s.insert_category(&category("General")).await.unwrap();
    let rooms: Vec<Room> = (0..40).map(|i| room(&format!("Room {}", i / 2), k)).collect();
    let inserts = futures_util::future::join_all(rooms.iter().map(|r| s.insert_room(r)));
    let events = vec![event(ComplianceKind::Join, 1, 1, 5)];
    let (results, recorded) = futures_util::future::join(inserts, s.record_compliance(events)).await;
    recorded.expect("the compliance record is kept");
    let mut won = std::collections::BTreeMap::<String, usize>::new();
    for (r, result) in rooms.iter().zip(results) {
        match result {
            Ok(_) => *won.entry(r.name.clone()).or_default() += 1,
            Err(StoreError::Conflict(_)) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(won.len(), 20, "every name was taken once");
    assert!(won.values().all(|&n| n == 1));
    assert_eq!(s.load_catalog().await.unwrap().rooms.len(), 20);
    assert_eq!(all_events(s).await.len(), 1);

    // A post call that fails after its first post got a number (the second names a missing
    // room), between calls that succeed: its number is given back, the others stay dense.
    let target = s.load_catalog().await.unwrap().rooms[0].0.id;
    let calls = vec![
        vec![post(target, 1, 1, "one")],
        vec![post(target, 1, 2, "lost"), post(target + 1_000, 1, 3, "nowhere")],
        vec![post(target, 1, 4, "two")],
    ];
    let results = futures_util::future::join_all(calls.into_iter().map(|c| s.commit_posts(c))).await;
    assert!(results[1].is_err(), "{:?}", results[1]);
    let mut kept = [results[0].as_ref().unwrap()[0], results[2].as_ref().unwrap()[0]];
    kept.sort_unstable();
    assert_eq!(kept, [1, 2]);
    let mut stored: Vec<String> = s.latest_messages(target, 10).await.unwrap().into_iter().map(|m| m.text).collect();
    stored.sort();
    assert_eq!(stored, ["one", "two"]);
    assert_eq!(all_events(s).await.len(), 3, "no record of the failed call");
}
