//! The in-memory copy of the directory, categories, rooms, add-ins, policies and
//! configuration. Loaded from the store at start; every change is written to the store
//! first and applied here after it commits, so the store stays the source of truth.

use std::collections::{HashMap, HashSet, VecDeque};

use longhall_types::ErrorCode;
use longhall_types::api::{EffectiveConfig, EffectivePolicy};

use crate::change::CatalogChange;
use crate::error::{CoreError, CoreResult};
use crate::model::*;
use crate::principal::{Affiliations, Principal, PrincipalRef};

/// Objects with a case-insensitive unique name.
pub trait Named {
    fn id(&self) -> i64;
    fn name(&self) -> &str;
}

macro_rules! named {
    ($($t:ty),*) => {$(
        impl Named for $t {
            fn id(&self) -> i64 { self.id }
            fn name(&self) -> &str { &self.name }
        }
    )*};
}
named!(Group, Category, Room, Addin);

/// A map by id with an index by lower-cased name, so lookups by name stay O(1).
#[derive(Debug, Clone)]
pub struct NamedMap<T> {
    by_id: HashMap<i64, T>,
    by_name: HashMap<String, i64>,
}

impl<T> Default for NamedMap<T> {
    fn default() -> Self {
        NamedMap { by_id: HashMap::new(), by_name: HashMap::new() }
    }
}

impl<T: Named> NamedMap<T> {
    pub fn insert(&mut self, id: i64, value: T) {
        if let Some(old) = self.by_id.remove(&id) {
            self.by_name.remove(&key(old.name()));
        }
        self.by_name.insert(key(value.name()), id);
        self.by_id.insert(id, value);
    }

    pub fn remove(&mut self, id: &i64) -> Option<T> {
        let old = self.by_id.remove(id)?;
        self.by_name.remove(&key(old.name()));
        Some(old)
    }

    pub fn get(&self, id: &i64) -> Option<&T> {
        self.by_id.get(id)
    }

    pub fn by_name(&self, name: &str) -> Option<&T> {
        self.by_name.get(&key(name)).and_then(|id| self.by_id.get(id))
    }

    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.by_id.values()
    }

    /// Mutable access for list edits; names must not change here (use `insert`).
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.by_id.values_mut()
    }

    pub fn keys(&self) -> impl Iterator<Item = &i64> {
        self.by_id.keys()
    }

    pub fn contains_key(&self, id: &i64) -> bool {
        self.by_id.contains_key(id)
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

#[derive(Debug, Default, Clone)]
pub struct Catalog {
    pub users: HashMap<UserId, User>,
    /// Removed accounts: only for attributing what they posted.
    pub removed_users: HashMap<UserId, User>,
    pub logins: HashMap<String, UserId>,
    pub groups: NamedMap<Group>,
    pub categories: NamedMap<Category>,
    pub rooms: NamedMap<Room>,
    pub addins: NamedMap<Addin>,
    pub policies: HashMap<Scope, Policy>,
    pub configs: HashMap<Scope, Config>,
    /// Direct containing groups of each user and group principal (reverse membership).
    parents: HashMap<Principal, Vec<GroupId>>,
}

fn key(name: &str) -> String {
    name.to_lowercase()
}

impl Catalog {
    pub fn from_data(data: CatalogData) -> (Catalog, Vec<(RoomId, Seq)>) {
        let mut c = Catalog::default();
        for u in data.users {
            c.logins.insert(u.login.clone(), u.id);
            c.users.insert(u.id, u);
        }
        for u in data.removed_users {
            c.removed_users.insert(u.id, u);
        }
        for g in data.groups {
            c.groups.insert(g.id, g);
        }
        for cat in data.categories {
            c.categories.insert(cat.id, cat);
        }
        let mut seqs = Vec::with_capacity(data.rooms.len());
        for (r, seq) in data.rooms {
            seqs.push((r.id, seq));
            c.rooms.insert(r.id, r);
        }
        for a in data.addins {
            c.addins.insert(a.id, a);
        }
        for p in data.policies {
            c.policies.insert(p.scope.clone(), p);
        }
        for cf in data.configs {
            c.configs.insert(cf.scope.clone(), cf);
        }
        c.reindex_groups();
        (c, seqs)
    }

    /// Rebuilds the reverse membership index; called after any group change.
    pub fn reindex_groups(&mut self) {
        self.parents.clear();
        for g in self.groups.values() {
            for m in &g.members {
                self.parents.entry(m.clone()).or_default().push(g.id);
            }
        }
    }

    // ---- lookups by name

    /// A written principal for a report, naming a missing id as such.
    fn written_or_missing(&self, p: &Principal) -> String {
        match p {
            Principal::User(id) if !self.users.contains_key(id) => format!("user #{id} (missing)"),
            Principal::Group(id) if !self.groups.contains_key(id) => format!("group #{id} (missing)"),
            p => self.written(p),
        }
    }

    fn missing(&self, p: &Principal) -> bool {
        match p {
            Principal::User(id) => !self.users.contains_key(id),
            Principal::Group(id) => !self.groups.contains_key(id),
            Principal::Domain(_) | Principal::Everyone => false,
        }
    }

    /// Group cycles (names, one sorted list per cycle), dangling group members and dangling
    /// category and room list entries (AffCheck, without the comparison with the store).
    pub fn check_groups(&self) -> (Vec<Vec<String>>, Vec<String>, Vec<String>) {
        // The groups each group reaches through its group members.
        let reach = |start: GroupId| -> HashSet<GroupId> {
            let mut seen = HashSet::new();
            let mut queue: VecDeque<GroupId> = VecDeque::from([start]);
            while let Some(g) = queue.pop_front() {
                for m in self.groups.get(&g).map(|g| g.members.as_slice()).unwrap_or_default() {
                    if let Principal::Group(id) = m
                        && seen.insert(*id)
                    {
                        queue.push_back(*id);
                    }
                }
            }
            seen
        };
        let mut ids: Vec<GroupId> = self.groups.keys().copied().collect();
        ids.sort_unstable();
        let reaches: HashMap<GroupId, HashSet<GroupId>> = ids.iter().map(|&g| (g, reach(g))).collect();
        let mut cycles: Vec<Vec<String>> = Vec::new();
        let mut placed = HashSet::new();
        for &g in &ids {
            if placed.contains(&g) || !reaches[&g].contains(&g) {
                continue;
            }
            // Its cycle: the groups it reaches that reach it back.
            let mut members: Vec<GroupId> =
                ids.iter().copied().filter(|h| reaches[&g].contains(h) && reaches[h].contains(&g)).collect();
            members.sort_unstable();
            placed.extend(members.iter().copied());
            let mut names: Vec<String> =
                members.iter().filter_map(|id| self.groups.get(id)).map(|g| g.name.clone()).collect();
            names.sort();
            cycles.push(names);
        }
        let mut dangling_members = Vec::new();
        for group in ids.iter().filter_map(|g| self.groups.get(g)) {
            for m in group.members.iter().filter(|m| self.missing(m)) {
                dangling_members.push(format!("group {}: {}", group.name, self.written_or_missing(m)));
            }
        }
        let mut dangling_entries = Vec::new();
        let mut cats: Vec<&Category> = self.categories.values().collect();
        cats.sort_by_key(|c| c.id);
        for c in cats {
            for (list, l) in [("allowed_members", &c.allowed), ("denied_members", &c.denied), ("creators", &c.creators)]
            {
                for p in l.iter().filter(|p| self.missing(p)) {
                    dangling_entries.push(format!("category {}: {list}: {}", c.name, self.written_or_missing(p)));
                }
            }
        }
        let mut rooms: Vec<&Room> = self.rooms.values().collect();
        rooms.sort_by_key(|r| r.id);
        for r in rooms {
            for (list, l) in [("members", &r.members), ("managers", &r.managers), ("presenters", &r.presenters)] {
                for p in l.iter().filter(|p| self.missing(p)) {
                    dangling_entries.push(format!("room {}: {list}: {}", r.name, self.written_or_missing(p)));
                }
            }
        }
        (cycles, dangling_members, dangling_entries)
    }

    /// The names of the groups a user belongs to (directly or through nested groups), sorted.
    pub fn group_names_of(&self, user: UserId) -> Vec<String> {
        let mut names: Vec<String> = self
            .ancestors(&Principal::User(user))
            .into_iter()
            .filter_map(|g| self.groups.get(&g).map(|g| g.name.clone()))
            .collect();
        names.sort();
        names
    }

    /// The author of a message: a user, or a removed one (what it posted stays attributed).
    pub fn author(&self, id: UserId) -> Option<&User> {
        self.users.get(&id).or_else(|| self.removed_users.get(&id))
    }

    /// Applies a committed change (`new_id`: the id the store gave an insert). The one place
    /// the in-memory catalog changes after start.
    pub fn apply(&mut self, change: &CatalogChange, new_id: i64) {
        use CatalogChange as C;
        let with_id = |id: i64| if id == 0 { new_id } else { id };
        match change {
            C::InsertUser { user, .. } | C::UpdateUser { user, .. } => {
                let mut user = user.clone();
                user.id = with_id(user.id);
                if let Some(old) = self.users.get(&user.id)
                    && old.login != user.login
                {
                    self.logins.remove(&old.login);
                }
                self.logins.insert(user.login.clone(), user.id);
                self.users.insert(user.id, user);
            }
            C::RemoveUser { id } => {
                if let Some(user) = self.users.remove(id) {
                    self.logins.remove(&user.login);
                    self.removed_users.insert(user.id, user);
                }
                self.purge_principal(&Principal::User(*id));
            }
            C::InsertGroup { group } | C::UpdateGroup { group } => {
                let mut group = group.clone();
                group.id = with_id(group.id);
                self.groups.insert(group.id, group);
                self.reindex_groups();
            }
            C::DeleteGroup { id } => {
                self.groups.remove(id);
                self.purge_principal(&Principal::Group(*id));
            }
            C::InsertCategory { category } | C::UpdateCategory { category } => {
                let mut category = category.clone();
                category.id = with_id(category.id);
                self.categories.insert(category.id, category);
            }
            C::DeleteCategory { id } => {
                self.categories.remove(id);
            }
            C::InsertRoom { room } | C::UpdateRoom { room } => {
                let mut room = room.clone();
                room.id = with_id(room.id);
                self.rooms.insert(room.id, room);
            }
            C::DeleteRoom { id } => {
                self.rooms.remove(id);
            }
            C::InsertAddin { addin } | C::UpdateAddin { addin } => {
                let mut addin = addin.clone();
                addin.id = with_id(addin.id);
                self.addins.insert(addin.id, addin);
            }
            C::DeleteAddin { id } => {
                self.addins.remove(id);
                for r in self.rooms.values_mut() {
                    if r.addin == Some(*id) {
                        r.addin = None;
                    }
                }
            }
            C::PutPolicy { policy } => {
                self.policies.insert(policy.scope.clone(), policy.clone());
            }
            C::DeletePolicy { scope } => {
                self.policies.remove(scope);
                if let Scope::Tag(t) = scope {
                    // Users granted a removed tag policy fall back to their site or global policy.
                    for u in self.users.values_mut() {
                        if u.policy.as_deref() == Some(t.as_str()) {
                            u.policy = None;
                        }
                    }
                }
            }
            C::PutConfig { config } => {
                self.configs.insert(config.scope.clone(), config.clone());
            }
            C::DeleteConfig { scope } => {
                self.configs.remove(scope);
            }
            // Not held in memory: read from the store when needed.
            C::PutComplianceConfig { .. } | C::InsertToken { .. } | C::DeleteToken { .. } => {}
        }
    }

    /// Removes every list entry naming `gone` (group members, category and room lists).
    fn purge_principal(&mut self, gone: &Principal) {
        for g in self.groups.values_mut() {
            g.members.retain(|p| p != gone);
        }
        for c in self.categories.values_mut() {
            for l in [&mut c.allowed, &mut c.denied, &mut c.creators] {
                l.retain(|p| p != gone);
            }
        }
        for r in self.rooms.values_mut() {
            for l in [&mut r.members, &mut r.managers, &mut r.presenters] {
                l.retain(|p| p != gone);
            }
        }
        self.reindex_groups();
    }

    /// The lists naming `p`, as `<noun> <name>: <list>`.
    pub fn lists_naming(&self, p: &Principal) -> Vec<String> {
        let mut out = Vec::new();
        let mut groups: Vec<&Group> = self.groups.values().filter(|g| g.members.contains(p)).collect();
        groups.sort_by_key(|g| g.id);
        out.extend(groups.into_iter().map(|g| format!("group {}: members", g.name)));
        let mut cats: Vec<&Category> = self.categories.values().collect();
        cats.sort_by_key(|c| c.id);
        for c in cats {
            for (name, l) in [("allowed_members", &c.allowed), ("denied_members", &c.denied), ("creators", &c.creators)]
            {
                if l.contains(p) {
                    out.push(format!("category {}: {name}", c.name));
                }
            }
        }
        let mut rooms: Vec<&Room> = self.rooms.values().collect();
        rooms.sort_by_key(|r| r.id);
        for r in rooms {
            for (name, l) in [("members", &r.members), ("managers", &r.managers), ("presenters", &r.presenters)] {
                if l.contains(p) {
                    out.push(format!("room {}: {name}", r.name));
                }
            }
        }
        out
    }

    pub fn user_by_login(&self, login: &str) -> Option<&User> {
        self.logins.get(&login.to_lowercase()).and_then(|id| self.users.get(id))
    }

    pub fn group_by_name(&self, name: &str) -> Option<&Group> {
        self.groups.by_name(name)
    }

    pub fn category_by_name(&self, name: &str) -> Option<&Category> {
        self.categories.by_name(name)
    }

    pub fn room_by_name(&self, name: &str) -> Option<&Room> {
        self.rooms.by_name(name)
    }

    pub fn addin_by_name(&self, name: &str) -> Option<&Addin> {
        self.addins.by_name(name)
    }

    /// A category named by id or by name.
    pub fn find_category(&self, id_or_name: &str) -> CoreResult<&Category> {
        let by_id = id_or_name.parse::<i64>().ok().and_then(|id| self.categories.get(&id));
        by_id.or_else(|| self.category_by_name(id_or_name)).ok_or_else(|| {
            CoreError::new(
                ErrorCode::CategoryNotFound,
                format!("There is no category \"{id_or_name}\"; list the categories to pick one."),
            )
        })
    }

    /// Categories and rooms share one name space.
    pub fn name_in_use(&self, name: &str, except_room: Option<RoomId>, except_category: Option<CategoryId>) -> bool {
        self.room_by_name(name).is_some_and(|r| Some(r.id) != except_room)
            || self.category_by_name(name).is_some_and(|c| Some(c.id) != except_category)
    }

    // ---- principals

    /// Resolves a written principal to one held by id.
    pub fn resolve(&self, written: &str) -> CoreResult<Principal> {
        let unknown = || {
            CoreError::new(
                ErrorCode::UnknownPrincipal,
                format!(
                    "\"{written}\" is not a known principal; write user:<login>, group:<name>, \
                     domain:<domain> or everyone."
                ),
            )
        };
        match PrincipalRef::parse(written).ok_or_else(unknown)? {
            PrincipalRef::User(login) => self.user_by_login(&login).map(|u| Principal::User(u.id)).ok_or_else(unknown),
            PrincipalRef::Group(name) => self.group_by_name(&name).map(|g| Principal::Group(g.id)).ok_or_else(unknown),
            PrincipalRef::Domain(d) => Ok(Principal::Domain(d)),
            PrincipalRef::Everyone => Ok(Principal::Everyone),
        }
    }

    pub fn resolve_all(&self, written: &[String]) -> CoreResult<Vec<Principal>> {
        if written.len() > longhall_types::limits::MAX_LIST_ITEMS {
            return Err(CoreError::new(
                ErrorCode::TooLong,
                format!("A list edit may name at most {} principals.", longhall_types::limits::MAX_LIST_ITEMS),
            ));
        }
        written.iter().map(|w| self.resolve(w)).collect()
    }

    /// The written form of a principal (`user:<login>` …).
    pub fn written(&self, p: &Principal) -> String {
        match p {
            Principal::User(id) => match self.users.get(id) {
                Some(u) => format!("user:{}", u.login),
                None => format!("user:#{id}"),
            },
            Principal::Group(id) => match self.groups.get(id) {
                Some(g) => format!("group:{}", g.name),
                None => format!("group:#{id}"),
            },
            Principal::Domain(d) => format!("domain:{d}"),
            Principal::Everyone => "everyone".to_owned(),
        }
    }

    pub fn written_list(&self, list: &[Principal]) -> Vec<String> {
        list.iter().map(|p| self.written(p)).collect()
    }

    /// Every group that contains `start`, transitively (cycles are tolerated).
    fn ancestors(&self, start: &Principal) -> HashSet<GroupId> {
        let mut seen = HashSet::new();
        let mut queue: VecDeque<GroupId> = self.parents.get(start).cloned().unwrap_or_default().into();
        while let Some(g) = queue.pop_front() {
            if seen.insert(g)
                && let Some(up) = self.parents.get(&Principal::Group(g))
            {
                queue.extend(up.iter().copied());
            }
        }
        seen
    }

    pub fn affiliations(&self, user: UserId) -> Affiliations {
        let domain = self.users.get(&user).map(|u| u.domain().to_owned()).unwrap_or_default();
        Affiliations { user, domain, groups: self.ancestors(&Principal::User(user)) }
    }

    /// Everything a principal "is" for scope checks: itself, its containing groups, its
    /// domain (for users), and everyone.
    pub fn containers(&self, p: &Principal) -> Vec<Principal> {
        let mut out = vec![p.clone(), Principal::Everyone];
        match p {
            Principal::User(id) => {
                if let Some(u) = self.users.get(id) {
                    out.push(Principal::Domain(u.domain().to_owned()));
                }
                out.extend(self.ancestors(p).into_iter().map(Principal::Group));
            }
            Principal::Group(_) => out.extend(self.ancestors(p).into_iter().map(Principal::Group)),
            Principal::Domain(_) | Principal::Everyone => {}
        }
        out
    }

    /// The users a principal stands for, groups expanded transitively.
    pub fn expand_users(&self, p: &Principal) -> Vec<UserId> {
        let mut out: Vec<UserId> = match p {
            Principal::User(id) => vec![*id],
            Principal::Everyone => self.users.keys().copied().collect(),
            Principal::Domain(d) => self.users.values().filter(|u| u.domain() == d).map(|u| u.id).collect(),
            Principal::Group(root) => {
                let mut users = HashSet::new();
                let mut seen = HashSet::new();
                let mut queue = VecDeque::from([*root]);
                while let Some(g) = queue.pop_front() {
                    if !seen.insert(g) {
                        continue;
                    }
                    for m in self.groups.get(&g).map(|g| g.members.as_slice()).unwrap_or_default() {
                        match m {
                            Principal::User(u) => {
                                users.insert(*u);
                            }
                            Principal::Group(sub) => queue.push_back(*sub),
                            _ => {}
                        }
                    }
                }
                users.into_iter().collect()
            }
        };
        out.sort_unstable();
        out
    }

    // ---- policy and configuration

    /// The most specific policy wins: the user's granted (tag) policy, then the site's, then
    /// global. Without any policy at all, persistent chat is off (the original's default).
    pub fn effective_policy(&self, user: &User) -> EffectivePolicy {
        let tag = user.policy.as_ref().map(|t| Scope::Tag(t.clone()));
        let site = user.site.as_ref().map(|s| Scope::Site(s.clone()));
        for scope in [tag, site, Some(Scope::Global)].into_iter().flatten() {
            if let Some(p) = self.policies.get(&scope) {
                return EffectivePolicy { enable_persistent_chat: p.enable_persistent_chat, source: scope.to_string() };
            }
        }
        EffectivePolicy { enable_persistent_chat: false, source: "global".into() }
    }

    /// The site's configuration if it has one, else global, else the defaults.
    pub fn effective_config(&self, site: Option<&str>) -> Config {
        site.and_then(|s| self.configs.get(&Scope::Site(s.to_owned())))
            .or_else(|| self.configs.get(&Scope::Global))
            .cloned()
            .unwrap_or_else(|| Config::defaults(Scope::Global))
    }

    pub fn effective_config_view(&self, site: Option<&str>) -> EffectiveConfig {
        let c = self.effective_config(site);
        EffectiveConfig {
            default_chat_history: c.default_chat_history,
            max_file_size_kb: c.max_file_size_kb,
            participant_update_limit: c.participant_update_limit,
            room_management_url: c.room_management_url,
            source: c.scope.to_string(),
        }
    }

    /// The largest backchat any scope asks for: how many recent messages to cache per room.
    pub fn max_chat_history(&self) -> u32 {
        self.configs
            .values()
            .map(|c| c.default_chat_history)
            .max()
            .unwrap_or(Config::DEFAULT_CHAT_HISTORY)
            .max(Config::DEFAULT_CHAT_HISTORY)
    }

    /// The limit that decides when a room is "large" (global scope: rooms have no site).
    pub fn participant_update_limit(&self) -> u32 {
        self.effective_config(None).participant_update_limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_index_follows_renames_and_removals() {
        let mut m: NamedMap<Addin> = NamedMap::default();
        m.insert(1, Addin { id: 1, name: "Quotes".into(), url: "https://q".into() });
        assert_eq!(m.by_name("QUOTES").map(|a| a.id), Some(1));
        m.insert(1, Addin { id: 1, name: "Prices".into(), url: "https://q".into() });
        assert!(m.by_name("quotes").is_none());
        assert_eq!(m.by_name("prices").map(|a| a.id), Some(1));
        m.remove(&1);
        assert!(m.by_name("prices").is_none() && m.is_empty());
    }

    fn user(id: UserId, login: &str, site: Option<&str>, policy: Option<&str>) -> User {
        User {
            id,
            login: login.into(),
            display_name: login.into(),
            email: String::new(),
            site: site.map(Into::into),
            disabled: false,
            admin: false,
            policy: policy.map(Into::into),
        }
    }

    fn catalog() -> Catalog {
        // traders ⊃ desk ⊃ alice; bob alone; ops ⊃ traders (nesting two deep); a cycle desk ⊃ ops.
        let data = CatalogData {
            users: vec![
                user(1, "alice@example.org", Some("london"), None),
                user(2, "bob@other.org", None, Some("pilot")),
            ],
            groups: vec![
                Group { id: 10, name: "traders".into(), members: vec![Principal::Group(11)] },
                Group { id: 11, name: "desk".into(), members: vec![Principal::User(1), Principal::Group(12)] },
                Group { id: 12, name: "ops".into(), members: vec![Principal::Group(10)] },
            ],
            ..Default::default()
        };
        Catalog::from_data(data).0
    }

    #[test]
    fn nested_groups_expand_both_ways_and_survive_cycles() {
        let c = catalog();
        let aff = c.affiliations(1);
        assert_eq!(aff.groups, HashSet::from([10, 11, 12]));
        assert_eq!(aff.domain, "example.org");
        assert_eq!(c.expand_users(&Principal::Group(10)), vec![1]);
        assert_eq!(c.expand_users(&Principal::Everyone), vec![1, 2]);
        assert_eq!(c.expand_users(&Principal::Domain("other.org".into())), vec![2]);
        assert!(c.affiliations(2).groups.is_empty());
    }

    #[test]
    fn principals_resolve_and_write_back() {
        let c = catalog();
        assert_eq!(c.resolve("user:Alice@Example.org").unwrap(), Principal::User(1));
        assert_eq!(c.resolve("group:TRADERS").unwrap(), Principal::Group(10));
        assert_eq!(c.resolve("everyone").unwrap(), Principal::Everyone);
        assert_eq!(c.resolve("user:nobody@example.org").unwrap_err().code, ErrorCode::UnknownPrincipal);
        assert_eq!(c.resolve("group:nobody").unwrap_err().code, ErrorCode::UnknownPrincipal);
        assert_eq!(c.written(&Principal::Group(11)), "group:desk");
        assert_eq!(c.written(&Principal::User(2)), "user:bob@other.org");
    }

    #[test]
    fn policy_most_specific_wins_and_default_is_off() {
        let mut c = catalog();
        let alice = c.users[&1].clone();
        let bob = c.users[&2].clone();
        assert!(!c.effective_policy(&alice).enable_persistent_chat);
        c.policies.insert(
            Scope::Global,
            Policy { scope: Scope::Global, enable_persistent_chat: true, description: String::new() },
        );
        assert_eq!(c.effective_policy(&alice).source, "global");
        assert!(c.effective_policy(&alice).enable_persistent_chat);
        let site = Scope::Site("london".into());
        c.policies
            .insert(site.clone(), Policy { scope: site, enable_persistent_chat: false, description: String::new() });
        assert_eq!(
            c.effective_policy(&alice),
            EffectivePolicy { enable_persistent_chat: false, source: "site:london".into() }
        );
        // bob's tag policy doesn't exist yet: falls back to global.
        assert_eq!(c.effective_policy(&bob).source, "global");
        let tag = Scope::Tag("pilot".into());
        c.policies
            .insert(tag.clone(), Policy { scope: tag, enable_persistent_chat: false, description: String::new() });
        assert_eq!(c.effective_policy(&bob).source, "tag:pilot");
    }

    #[test]
    fn configuration_site_over_global_over_defaults() {
        let mut c = catalog();
        assert_eq!(c.effective_config(Some("london")).default_chat_history, 30);
        let mut g = Config::defaults(Scope::Global);
        g.default_chat_history = 50;
        c.configs.insert(Scope::Global, g);
        let mut s = Config::defaults(Scope::Site("london".into()));
        s.default_chat_history = 100;
        c.configs.insert(s.scope.clone(), s);
        assert_eq!(c.effective_config(Some("london")).default_chat_history, 100);
        assert_eq!(c.effective_config(Some("paris")).default_chat_history, 50);
        assert_eq!(c.max_chat_history(), 100);
    }

    #[test]
    fn containers_feed_the_scope_check() {
        let c = catalog();
        let cat = Category {
            id: 1,
            name: "c".into(),
            description: String::new(),
            invitations: false,
            file_upload: false,
            chat_history: true,
            allowed: vec![Principal::Group(10)],
            denied: vec![Principal::Group(12)],
            creators: vec![],
        };
        // desk is inside traders (allowed) but also inside ops (denied): deny wins.
        assert!(!crate::rules::in_scope(&cat, &c.containers(&Principal::Group(11))));
        let cat2 = Category { denied: vec![], ..cat };
        assert!(crate::rules::in_scope(&cat2, &c.containers(&Principal::Group(11))));
        assert!(crate::rules::in_scope(&cat2, &c.containers(&Principal::User(1))));
        assert!(!crate::rules::in_scope(&cat2, &c.containers(&Principal::User(2))));
        assert!(!crate::rules::in_scope(&cat2, &c.containers(&Principal::Everyone)));
    }
}
