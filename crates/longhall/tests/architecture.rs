//! The invariants of ARCHITECTURE.md that can be read off the source tree: the direction of
//! dependencies, no I/O in the core, unsafe code only where stated, one name per noun.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn crates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("crates/").to_path_buf()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The workspace crates a crate's `[dependencies]` (not dev-dependencies) name.
fn workspace_dependencies(krate: &str) -> BTreeSet<String> {
    let manifest: toml::Table = toml::from_str(&read(&crates_dir().join(krate).join("Cargo.toml"))).expect("manifest");
    manifest
        .get("dependencies")
        .and_then(|d| d.as_table())
        .map(|deps| deps.keys().filter(|k| k.starts_with("longhall")).cloned().collect())
        .unwrap_or_default()
}

/// Every `.rs` file under a directory.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read_dir").flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The module names (file stems) of a directory, minus the given ones.
fn modules(dir: &str, except: &[&str]) -> BTreeSet<String> {
    std::fs::read_dir(crates_dir().join(dir))
        .expect("module directory")
        .flatten()
        .filter_map(|e| {
            let p = e.path();
            (p.extension()? == "rs").then(|| p.file_stem()?.to_str().map(str::to_owned))?
        })
        .filter(|m| !except.contains(&m.as_str()))
        .collect()
}

#[test]
fn dependencies_point_one_way() {
    let allowed: &[(&str, &[&str])] = &[
        ("longhall-types", &[]),
        ("longhall-core", &["longhall-types"]),
        ("longhall-store-sqlite", &["longhall-types", "longhall-core"]),
        ("longhall-store-postgres", &["longhall-types", "longhall-core"]),
        ("longhall-bus-nats", &["longhall-types", "longhall-core"]),
        ("longhall-server", &["longhall-types", "longhall-core"]),
        ("longhall-compliance", &["longhall-types", "longhall-core"]),
        ("longhall-client", &["longhall-types"]),
        ("longhall-stress", &["longhall-types", "longhall-client"]),
    ];
    let mut problems = Vec::new();
    for (krate, may) in allowed {
        for dep in workspace_dependencies(krate) {
            if !may.contains(&dep.as_str()) {
                problems.push(format!("{krate} depends on {dep}"));
            }
        }
    }
    // Nothing depends on the binary crate, except through dev-dependencies and the test-only
    // crate whose library is a test harness: they open deployments as `serve` does.
    for entry in std::fs::read_dir(crates_dir()).expect("crates").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != "longhall-core-tests" && workspace_dependencies(&name).contains("longhall") {
            problems.push(format!("{name} depends on the binary crate"));
        }
    }
    assert!(problems.is_empty(), "dependencies against ARCHITECTURE.md: {problems:#?}");
}

#[test]
fn the_core_does_no_io_and_names_no_database_or_http_framework() {
    let forbidden = [
        "std::fs",
        "tokio::fs",
        "std::process",
        "tokio::process",
        "tokio::net",
        "std::net::Tcp",
        "std::net::Udp",
        "rusqlite",
        "axum",
        "hyper",
        "reqwest",
    ];
    let mut problems = Vec::new();
    for file in rust_files(&crates_dir().join("longhall-core/src")) {
        for (n, line) in read(&file).lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for f in forbidden {
                if line.contains(f) {
                    problems.push(format!("{}:{}: {f}", file.display(), n + 1));
                }
            }
        }
    }
    let manifest = read(&crates_dir().join("longhall-core/Cargo.toml"));
    for feature in ["\"fs\"", "\"net\"", "\"process\"", "\"io-util\""] {
        if manifest.lines().any(|l| l.starts_with("tokio") && l.contains(feature)) {
            problems.push(format!("longhall-core enables tokio's {feature}"));
        }
    }
    assert!(problems.is_empty(), "I/O in the core: {problems:#?}");
}

#[test]
fn unsafe_code_lives_only_in_the_xslt_binding() {
    // Every crate but the compliance crate inherits the workspace's `unsafe_code = "forbid"`.
    let mut problems = Vec::new();
    for entry in std::fs::read_dir(crates_dir()).expect("crates").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let manifest: toml::Table = toml::from_str(&read(&entry.path().join("Cargo.toml"))).expect("manifest");
        let inherits =
            manifest.get("lints").and_then(|l| l.get("workspace")).and_then(|w| w.as_bool()).unwrap_or(false);
        if name != "longhall-compliance" && !inherits {
            problems.push(format!("{name} doesn't inherit the workspace lints (unsafe_code = forbid)"));
        }
    }
    // In the compliance crate, only the binding opts in.
    let allowed = ["xslt/ffi.rs", "xslt/engine.rs"];
    let src = crates_dir().join("longhall-compliance/src");
    for file in rust_files(&src) {
        let rel = file.strip_prefix(&src).expect("under src").to_string_lossy().replace('\\', "/");
        let text = read(&file);
        let code: Vec<&str> = text.lines().filter(|l| !l.trim_start().starts_with("//")).collect();
        let uses_unsafe =
            code.iter().any(|l| l.contains("unsafe {") || l.contains("unsafe extern") || l.contains("unsafe fn"));
        if uses_unsafe && !allowed.contains(&rel.as_str()) {
            problems.push(format!("longhall-compliance/src/{rel} has unsafe code"));
        }
        let opts_in = code.iter().any(|l| l.contains("allow(unsafe_code)"));
        if opts_in && rel != "xslt/mod.rs" {
            problems.push(format!("longhall-compliance/src/{rel} allows unsafe code"));
        }
    }
    assert!(problems.is_empty(), "unsafe code outside the XSLT binding: {problems:#?}");
}

/// A noun's routes and its client methods sit in files of the same name, and every
/// administration command of the binary is named after a routes file.
#[test]
fn each_noun_has_one_name_across_the_layers() {
    let routes = modules("longhall-server/src/routes", &["mod"]);
    let client = modules("longhall-client/src", &["lib", "error", "credentials"]);
    assert_eq!(routes, client, "server routes/*.rs and client src/*.rs name different nouns");

    let types = modules("longhall-types/src/api", &["mod"]);
    let untyped: Vec<_> = types.difference(&routes).collect();
    assert!(untyped.is_empty(), "wire types for nouns that have no routes: {untyped:?}");

    // Not nouns of the API: views (wire views of model objects), throttle (rate limits), auth
    // (actors, sign-in and tokens: the account and tokens routes), chat (the live session of the
    // WebSocket: join, post, history), following (the rooms routes' follow and invitations),
    // catalog_write (the one path every noun's catalog changes take, with their audit records),
    // remote (what a server of a pool learns from the others over the bus).
    let services = modules(
        "longhall-core/src/service",
        &["mod", "views", "throttle", "auth", "chat", "following", "catalog_write", "remote"],
    );
    let without_routes: Vec<_> = services.difference(&routes).collect();
    assert!(without_routes.is_empty(), "core services named unlike any routes file: {without_routes:?}");

    // `export` (export and import) is offline, on a stopped deployment's data directory: no routes.
    let commands = modules("longhall/src", &["main", "lib", "cli", "config", "deployment", "export"]);
    let no_routes: Vec<_> = commands.iter().filter(|c| !routes.contains(*c)).collect();
    assert!(no_routes.is_empty(), "commands named unlike any routes file: {no_routes:?}");
}
