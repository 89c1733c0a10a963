//! Provisioning the model through the admin API (and removing it again), with the result
//! cached in a state file so repeated runs skip it.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::StreamExt;
use longhall_client::api::{
    GroupUpdate, ListEdit, NewApiToken, NewCategory, NewGroup, NewRoom, NewUser, Privacy, RoomInvitations, RoomType,
    UserUpdate,
};
use longhall_client::rooms::RoomSearch;
use longhall_client::{Client, ClientError, ErrorCode};
use serde::{Deserialize, Serialize};

use crate::model::{Class, Params, Workload};
use crate::progress::Progress;

/// Most principals one list edit may name (docs/api.md, limits).
const LIST_LIMIT: usize = 1000;

/// A client of the target's HTTP API: many pooled connections (setup runs calls in
/// parallel), each call bounded.
pub fn api(base: &str) -> anyhow::Result<Client> {
    Ok(Client::builder(base).pool_max_idle_per_host(128).timeout(Duration::from_secs(120)).build()?)
}

/// Signs in and answers the session token.
pub async fn sign_in(api: &Client, login: &str, password: &str) -> anyhow::Result<String> {
    Ok(api.sign_in(login, password).await.map_err(|e| anyhow::anyhow!("signing in as {login}: {}", why(&e)))?.token)
}

/// An error for a report: an API error as `code: sentence`.
pub fn why(e: &ClientError) -> String {
    match e {
        ClientError::Api { code_text, message, .. } => format!("{code_text}: {message}"),
        other => other.to_string(),
    }
}

/// A provisioned user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserCred {
    pub login: String,
    pub token: String,
    pub token_id: i64,
}

/// What setup created: enough to run again without setup, and to remove it all.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub server: String,
    pub params: Params,
    pub tag: String,
    pub category: String,
    pub category_id: i64,
    pub users: Vec<UserCred>,
    /// Server room ids, by room index of the model.
    pub rooms: Vec<i64>,
    pub groups: Vec<String>,
}

impl State {
    pub fn load(path: &Path) -> anyhow::Result<Option<State>> {
        match std::fs::read(path) {
            Ok(bytes) => Ok(Some(
                serde_json::from_slice(&bytes).with_context(|| format!("reading the state file {}", path.display()))?,
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading the state file {}", path.display())),
        }
    }

    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec(self)?).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }
}

/// The names of one model's objects: the same parameters give the same names, so a setup
/// interrupted half-way is completed (not duplicated) by the next one.
pub fn tag_of(p: &Params) -> String {
    format!("{}-u{}-s{}-l{}", p.scenario.as_str(), p.users, p.seed, p.large_size)
}

pub fn login_of(tag: &str, user: u32) -> String {
    format!("u{user}.{tag}@stress.example")
}

/// Creates the category, users, tokens, groups and rooms of the model.
pub async fn provision(
    api: &Client,
    admin: &str,
    server: &str,
    w: &Workload,
    concurrency: usize,
    progress: &Progress,
) -> anyhow::Result<State> {
    let api = &api.with_token(admin);
    let tag = tag_of(&w.params);
    let category = format!("stress-{tag}");
    let new_category = NewCategory {
        name: category.clone(),
        description: "Created by longhall stress; removed by its cleanup.".into(),
        invitations: false,
        allowed_members: vec!["everyone".into()],
        ..Default::default()
    };
    let category_id = match api.create_category(&new_category).await {
        Ok(c) => c.id,
        Err(e) if e.is(ErrorCode::NameTaken) => {
            api.get_category(&category)
                .await
                .map_err(|e| anyhow::anyhow!("reading the category {category}: {}", why(&e)))?
                .id
        }
        Err(e) => bail!("creating the category {category}: {}", why(&e)),
    };

    // Users (without passwords: hashing one per user would dominate) and one API token each.
    let done = AtomicU64::new(0);
    let total = w.params.users as u64;
    let users: Vec<anyhow::Result<(u32, UserCred)>> = futures_util::stream::iter(0..w.params.users)
        .map(|u| {
            let (tag, done) = (tag.clone(), &done);
            async move {
                let login = login_of(&tag, u);
                let new_user = NewUser {
                    login: login.clone(),
                    display_name: Some(format!("Stress user {u}")),
                    ..Default::default()
                };
                match api.create_user(&new_user).await {
                    Ok(_) => {}
                    Err(e) if e.is(ErrorCode::NameTaken) => {
                        // Left disabled by an earlier cleanup: enable it again.
                        let enable = UserUpdate { disabled: Some(false), ..Default::default() };
                        api.update_user(&login, &enable)
                            .await
                            .map_err(|e| anyhow::anyhow!("enabling user {login}: {}", why(&e)))?;
                    }
                    Err(e) => bail!("creating user {login}: {}", why(&e)),
                }
                let t = api
                    .create_token(&NewApiToken { login: Some(login.clone()), label: "longhall stress".into() })
                    .await
                    .map_err(|e| anyhow::anyhow!("creating a token for {login}: {}", why(&e)))?;
                let cred = UserCred { login, token: t.token, token_id: t.id };
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                progress.show(&format!("setup: users and tokens {n}/{total}"));
                Ok((u, cred))
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let mut creds: Vec<Option<UserCred>> = vec![None; w.params.users as usize];
    for r in users {
        let (u, c) = r?;
        creds[u as usize] = Some(c);
    }
    let users: Vec<UserCred> =
        creds.into_iter().map(|c| c.context("a user was not provisioned")).collect::<anyhow::Result<_>>()?;

    // Groups: the member list of a Closed room above the list limit is built from groups of
    // at most 1,000 users each.
    let mut group_jobs = Vec::new();
    let mut room_groups: Vec<Vec<String>> = vec![Vec::new(); w.rooms.len()];
    for (ri, room) in w.rooms.iter().enumerate() {
        if room.open || room.members.len() <= LIST_LIMIT {
            continue;
        }
        for (ci, chunk) in room.members.chunks(LIST_LIMIT).enumerate() {
            let name = format!("stress-{tag}-r{ri}-g{ci}");
            let members: Vec<String> = chunk.iter().map(|&u| format!("user:{}", users[u as usize].login)).collect();
            room_groups[ri].push(name.clone());
            group_jobs.push((name, members));
        }
    }
    let groups: Vec<String> = group_jobs.iter().map(|(n, _)| n.clone()).collect();
    let results: Vec<anyhow::Result<()>> = futures_util::stream::iter(group_jobs)
        .map(|(name, members)| async move {
            match api.create_group(&NewGroup { name: name.clone(), members: members.clone() }).await {
                Ok(_) => Ok(()),
                Err(e) if e.is(ErrorCode::NameTaken) => {
                    let edit = ListEdit { replace: Some(members), ..Default::default() };
                    api.update_group(&name, &GroupUpdate { members: Some(edit), ..Default::default() })
                        .await
                        .map_err(|e| anyhow::anyhow!("updating group {name}: {}", why(&e)))?;
                    Ok(())
                }
                Err(e) => bail!("creating group {name}: {}", why(&e)),
            }
        })
        .buffer_unordered(concurrency.min(8))
        .collect()
        .await;
    results.into_iter().collect::<anyhow::Result<Vec<()>>>()?;

    // Rooms.
    let done = AtomicU64::new(0);
    let total = w.rooms.len() as u64;
    let results: Vec<anyhow::Result<(usize, i64)>> = futures_util::stream::iter(w.rooms.iter().enumerate())
        .map(|(ri, room)| {
            let (tag, users, room_groups, done) = (&tag, &users, &room_groups, &done);
            async move {
                let name = format!("stress-{tag}-{}-{ri}", room.class.as_str());
                let login = |u: &u32| format!("user:{}", users[*u as usize].login);
                let members: Vec<String> = if room.open {
                    vec![]
                } else if room_groups[ri].is_empty() {
                    room.members.iter().map(login).collect()
                } else {
                    room_groups[ri].iter().map(|g| format!("group:{g}")).collect()
                };
                let new_room = NewRoom {
                    name: name.clone(),
                    category: category_id.to_string(),
                    privacy: if room.open { Privacy::Open } else { Privacy::Closed },
                    room_type: if room.auditorium { RoomType::Auditorium } else { RoomType::Normal },
                    invitations: RoomInvitations::Off,
                    members,
                    presenters: room.presenters.iter().map(login).collect(),
                    ..Default::default()
                };
                let id = match api.create_room(&new_room).await {
                    Ok(r) => r.id,
                    Err(e) if e.is(ErrorCode::NameTaken) => find_room(api, category_id, &name).await?,
                    Err(e) => bail!("creating room {name}: {}", why(&e)),
                };
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                progress.show(&format!("setup: rooms {n}/{total}"));
                Ok((ri, id))
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let mut rooms = vec![0i64; w.rooms.len()];
    for r in results {
        let (ri, id) = r?;
        rooms[ri] = id;
    }
    Ok(State { server: server.to_owned(), params: w.params.clone(), tag, category, category_id, users, rooms, groups })
}

async fn find_room(admin: &Client, category: i64, name: &str) -> anyhow::Result<i64> {
    let search = RoomSearch {
        q: Some(name.into()),
        category: Some(category.to_string()),
        limit: Some(500),
        ..Default::default()
    };
    let page = admin.search_rooms(&search).await.map_err(|e| anyhow::anyhow!("finding room {name}: {}", why(&e)))?;
    page.items
        .iter()
        .find(|r| r.name == name)
        .map(|r| r.id)
        .with_context(|| format!("room {name} exists but was not found in the directory"))
}

/// Whether the cached state still matches the server (its category still exists).
pub async fn still_there(api: &Client, admin: &str, state: &State) -> anyhow::Result<bool> {
    Ok(match api.with_token(admin).get_category(&state.category_id.to_string()).await {
        Ok(c) => c.name == state.category,
        Err(ClientError::Api { .. }) => false,
        Err(e) => return Err(e).context("checking the cached setup"),
    })
}

/// What cleanup did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Cleanup {
    pub rooms_deleted: u64,
    pub groups_deleted: u64,
    pub tokens_revoked: u64,
    /// The API has no way to delete a user: they are disabled instead.
    pub users_disabled: u64,
    pub category_deleted: bool,
    pub failures: Vec<String>,
    pub wall_s: f64,
}

/// One removal of [`cleanup`].
enum Removal {
    Room(i64),
    Group(String),
    Category(i64),
    Token(i64),
    /// Users can't be deleted through the API: disabled.
    User(String),
}

impl Removal {
    async fn run(&self, admin: &Client) -> Result<(), String> {
        let (what, result) = match self {
            Removal::Room(id) => (format!("deleting room {id}"), admin.delete_room(*id).await),
            Removal::Group(g) => (format!("deleting group {g}"), admin.delete_group(g).await),
            Removal::Category(id) => (format!("deleting category {id}"), admin.delete_category(&id.to_string()).await),
            Removal::Token(id) => (format!("revoking token {id}"), admin.revoke_token(*id).await),
            Removal::User(login) => {
                let disable = UserUpdate { disabled: Some(true), ..Default::default() };
                (format!("disabling user {login}"), admin.update_user(login, &disable).await.map(|_| ()))
            }
        };
        match result {
            Ok(()) => Ok(()),
            // Already gone: what cleanup wanted.
            Err(e) if e.code_text().is_some_and(|c| c.ends_with("not_found")) => Ok(()),
            Err(e) => Err(format!("{what}: {}", why(&e))),
        }
    }
}

/// Removes what `provision` created (users can't be deleted through the API: disabled).
pub async fn cleanup(api: &Client, admin: &str, state: &State, concurrency: usize, progress: &Progress) -> Cleanup {
    let start = Instant::now();
    let admin = &api.with_token(admin);
    let mut out = Cleanup::default();
    let failures = std::sync::Mutex::new(Vec::new());
    let fail = |what: String| failures.lock().unwrap_or_else(|e| e.into_inner()).push(what);
    let step = |jobs: Vec<Removal>, what: &'static str| {
        let total = jobs.len();
        let done = AtomicU64::new(0);
        let fail = &fail;
        async move {
            let results: Vec<Result<(), String>> = futures_util::stream::iter(jobs)
                .map(|job| {
                    let done = &done;
                    async move {
                        let r = job.run(admin).await;
                        let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                        progress.show(&format!("cleanup: {what} {n}/{total}"));
                        r
                    }
                })
                .buffer_unordered(concurrency)
                .collect()
                .await;
            let mut ok = 0;
            for r in results {
                match r {
                    Ok(()) => ok += 1,
                    Err(e) => fail(e),
                }
            }
            ok
        }
    };
    out.rooms_deleted = step(state.rooms.iter().map(|id| Removal::Room(*id)).collect(), "rooms").await;
    out.groups_deleted = step(state.groups.iter().map(|g| Removal::Group(g.clone())).collect(), "groups").await;
    out.category_deleted = step(vec![Removal::Category(state.category_id)], "category").await == 1;
    out.tokens_revoked = step(state.users.iter().map(|u| Removal::Token(u.token_id)).collect(), "tokens").await;
    out.users_disabled = step(state.users.iter().map(|u| Removal::User(u.login.clone())).collect(), "users").await;
    let mut f = failures.into_inner().unwrap_or_else(|e| e.into_inner());
    let more = f.len().saturating_sub(20);
    f.truncate(20);
    if more > 0 {
        f.push(format!("… and {more} more"));
    }
    out.failures = f;
    out.wall_s = crate::procstat::round3(start.elapsed().as_secs_f64());
    out
}

/// Room counts per class, for the setup summary.
pub fn rooms_per_class(w: &Workload) -> String {
    Class::ALL.iter().map(|c| format!("{} {}", w.count(*c), c.as_str())).collect::<Vec<_>>().join(", ")
}
