//! Provisioning the model through the admin API (and removing it again), with the result
//! cached in a state file so repeated runs skip it.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::StreamExt;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::model::{Class, Params, Workload};
use crate::progress::Progress;

/// Most principals one list edit may name (docs/api.md, limits).
const LIST_LIMIT: usize = 1000;

/// An error answer of the API.
#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

/// The HTTP API of the target (only that host: no proxy, no redirects).
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    pub fn new(base: &str) -> anyhow::Result<Api> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(128)
            .timeout(Duration::from_secs(120))
            .build()?;
        Ok(Api { http, base: base.trim_end_matches('/').to_owned() })
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> anyhow::Result<Result<Value, ApiError>> {
        let mut req = self.http.request(method.clone(), format!("{}{}", self.base, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.with_context(|| format!("{method} {path}"))?;
        let status = resp.status();
        let bytes = resp.bytes().await.with_context(|| format!("{method} {path}: reading the answer"))?;
        let value: Value =
            if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
        if status.is_success() {
            Ok(Ok(value))
        } else {
            Ok(Err(ApiError {
                status: status.as_u16(),
                code: value["code"].as_str().unwrap_or("unknown").to_owned(),
                message: value["message"].as_str().unwrap_or_default().to_owned(),
            }))
        }
    }

    /// A call that must succeed.
    pub async fn ok(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        match self.call(method.clone(), path, token, body).await? {
            Ok(v) => Ok(v),
            Err(e) => bail!("{method} {path}: {e}"),
        }
    }

    pub async fn sign_in(&self, login: &str, password: &str) -> anyhow::Result<String> {
        let v = self
            .ok(Method::POST, "/api/v1/auth/sign-in", None, Some(&json!({ "login": login, "password": password })))
            .await?;
        v["token"].as_str().map(str::to_owned).context("the sign-in answer has no token")
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
    api: &Api,
    admin: &str,
    server: &str,
    w: &Workload,
    concurrency: usize,
    progress: &Progress,
) -> anyhow::Result<State> {
    let tag = tag_of(&w.params);
    let category = format!("stress-{tag}");
    let cat_body = json!({
        "name": category, "description": "Created by longhall stress; removed by its cleanup.",
        "invitations": false, "allowed_members": ["everyone"],
    });
    let category_id = match api.call(Method::POST, "/api/v1/admin/categories", Some(admin), Some(&cat_body)).await? {
        Ok(v) => v["id"].as_i64().context("category id")?,
        Err(e) if e.code == "name_taken" => {
            api.ok(Method::GET, &format!("/api/v1/admin/categories/{category}"), Some(admin), None).await?["id"]
                .as_i64()
                .context("category id")?
        }
        Err(e) => bail!("creating the category {category}: {e}"),
    };

    // Users (without passwords: hashing one per user would dominate) and one API token each.
    let done = AtomicU64::new(0);
    let total = w.params.users as u64;
    let users: Vec<anyhow::Result<(u32, UserCred)>> = futures_util::stream::iter(0..w.params.users)
        .map(|u| {
            let (api, tag, done) = (api.clone(), tag.clone(), &done);
            async move {
                let login = login_of(&tag, u);
                let body = json!({ "login": login, "display_name": format!("Stress user {u}") });
                match api.call(Method::POST, "/api/v1/admin/users", Some(admin), Some(&body)).await? {
                    Ok(_) => {}
                    Err(e) if e.code == "name_taken" => {
                        // Left disabled by an earlier cleanup: enable it again.
                        let path = format!("/api/v1/admin/users/{login}");
                        api.ok(Method::PATCH, &path, Some(admin), Some(&json!({ "disabled": false }))).await?;
                    }
                    Err(e) => bail!("creating user {login}: {e}"),
                }
                let body = json!({ "login": login, "label": "longhall stress" });
                let t = api.ok(Method::POST, "/api/v1/tokens", Some(admin), Some(&body)).await?;
                let cred = UserCred {
                    login,
                    token: t["token"].as_str().context("token")?.to_owned(),
                    token_id: t["id"].as_i64().context("token id")?,
                };
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
        .map(|(name, members)| {
            let api = api.clone();
            async move {
                let body = json!({ "name": name, "members": members });
                match api.call(Method::POST, "/api/v1/admin/groups", Some(admin), Some(&body)).await? {
                    Ok(_) => Ok(()),
                    Err(e) if e.code == "name_taken" => {
                        let body = json!({ "members": { "replace": members } });
                        api.ok(Method::PATCH, &format!("/api/v1/admin/groups/{name}"), Some(admin), Some(&body))
                            .await?;
                        Ok(())
                    }
                    Err(e) => bail!("creating group {name}: {e}"),
                }
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
            let (api, tag, users, room_groups, done) = (api.clone(), &tag, &users, &room_groups, &done);
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
                let body = json!({
                    "name": name, "category": category_id.to_string(),
                    "privacy": if room.open { "open" } else { "closed" },
                    "type": if room.auditorium { "auditorium" } else { "normal" },
                    "invitations": "off",
                    "members": members,
                    "presenters": room.presenters.iter().map(login).collect::<Vec<_>>(),
                });
                let id = match api.call(Method::POST, "/api/v1/rooms", Some(admin), Some(&body)).await? {
                    Ok(v) => v["id"].as_i64().context("room id")?,
                    Err(e) if e.code == "name_taken" => find_room(&api, admin, category_id, &name).await?,
                    Err(e) => bail!("creating room {name}: {e}"),
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

async fn find_room(api: &Api, admin: &str, category: i64, name: &str) -> anyhow::Result<i64> {
    let path = format!("/api/v1/rooms?q={name}&category={category}&limit=500");
    let page = api.ok(Method::GET, &path, Some(admin), None).await?;
    page["items"]
        .as_array()
        .and_then(|items| items.iter().find(|r| r["name"] == name))
        .and_then(|r| r["id"].as_i64())
        .with_context(|| format!("room {name} exists but was not found in the directory"))
}

/// Whether the cached state still matches the server (its category still exists).
pub async fn still_there(api: &Api, admin: &str, state: &State) -> anyhow::Result<bool> {
    let path = format!("/api/v1/admin/categories/{}", state.category_id);
    Ok(match api.call(Method::GET, &path, Some(admin), None).await? {
        Ok(v) => v["name"] == state.category.as_str(),
        Err(_) => false,
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

/// Removes what `provision` created (users can't be deleted through the API: disabled).
pub async fn cleanup(api: &Api, admin: &str, state: &State, concurrency: usize, progress: &Progress) -> Cleanup {
    let start = Instant::now();
    let mut out = Cleanup::default();
    let failures = std::sync::Mutex::new(Vec::new());
    let fail = |what: String| failures.lock().unwrap_or_else(|e| e.into_inner()).push(what);
    let run = |method: Method, path: String, body: Option<Value>| {
        let api = api.clone();
        async move {
            match api.call(method.clone(), &path, Some(admin), body.as_ref()).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) if e.code.ends_with("not_found") => Ok(()),
                Ok(Err(e)) => Err(format!("{method} {path}: {e}")),
                Err(e) => Err(format!("{method} {path}: {e:#}")),
            }
        }
    };
    let step = |jobs: Vec<(Method, String, Option<Value>)>, what: &'static str| {
        let total = jobs.len();
        let done = AtomicU64::new(0);
        let run = &run;
        let fail = &fail;
        async move {
            let results: Vec<Result<(), String>> = futures_util::stream::iter(jobs)
                .map(|(m, p, b)| {
                    let done = &done;
                    async move {
                        let r = run(m, p, b).await;
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
    out.rooms_deleted =
        step(state.rooms.iter().map(|id| (Method::DELETE, format!("/api/v1/rooms/{id}"), None)).collect(), "rooms")
            .await;
    out.groups_deleted = step(
        state.groups.iter().map(|g| (Method::DELETE, format!("/api/v1/admin/groups/{g}"), None)).collect(),
        "groups",
    )
    .await;
    out.category_deleted =
        step(vec![(Method::DELETE, format!("/api/v1/admin/categories/{}", state.category_id), None)], "category").await
            == 1;
    out.tokens_revoked = step(
        state.users.iter().map(|u| (Method::DELETE, format!("/api/v1/tokens/{}", u.token_id), None)).collect(),
        "tokens",
    )
    .await;
    out.users_disabled = step(
        state
            .users
            .iter()
            .map(|u| (Method::PATCH, format!("/api/v1/admin/users/{}", u.login), Some(json!({ "disabled": true }))))
            .collect(),
        "users",
    )
    .await;
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
