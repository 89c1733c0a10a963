//! The XSLT worker: a short-lived process that compiles one stylesheet and applies it to one or
//! more inputs, under the sandbox of `engine::Sandbox`. The parent (`XsltRunner`) kills it when
//! it runs past its time limit.
//!
//! ```text
//! <worker> --stylesheet PATH [--time-limit-ms N] [--lifeline] [--input PATH|- --output PATH|-]...
//! ```
//!
//! `--time-limit-ms N`: the worker exits (code [`EXIT_TIMEOUT`]) after N ms of wall-clock time.
//! `--lifeline`: its stdin is a pipe its parent holds open; the worker exits (code
//! [`EXIT_ORPHANED`]) when it reaches end of file, i.e. when the parent died. The parent still
//! enforces the limit itself; these make sure a worker never outlives a killed server.
//!
//! The stylesheet's folder is the only folder it may read from. Each `--input` is followed by
//! its `--output`; with none, standard input is transformed to standard output. Diagnostics
//! (libxml2/libxslt messages with line numbers, `xsl:message` output) go to stderr. The exit
//! code says which stage failed (see the `EXIT_*` constants).

use std::fs::File;
use std::path::PathBuf;

use std::thread;
use std::time::Duration;

use super::engine::{Document, Sandbox, exit_now, refused};

pub const EXIT_OK: i32 = 0;
/// Bad arguments.
pub const EXIT_USAGE: i32 = 2;
/// The stylesheet doesn't compile (not well-formed, not XSLT 1.0, refused import…).
pub const EXIT_STYLESHEET: i32 = 3;
/// An input isn't well-formed XML or can't be read.
pub const EXIT_INPUT: i32 = 4;
/// The transformation failed (runtime error, refused read/write, `xsl:message terminate`).
pub const EXIT_TRANSFORM: i32 = 5;
/// The result couldn't be written.
pub const EXIT_OUTPUT: i32 = 6;
/// The worker's own time limit (`--time-limit-ms`) ran out.
pub const EXIT_TIMEOUT: i32 = 7;
/// The parent went away (`--lifeline`: end of file on stdin).
pub const EXIT_ORPHANED: i32 = 8;

const USAGE: &str =
    "usage: xslt-worker --stylesheet PATH [--time-limit-ms N] [--lifeline] [--input PATH|- --output PATH|-]...";

#[derive(Debug, PartialEq, Eq)]
enum Io {
    Std,
    Path(PathBuf),
}

fn io_arg(s: String) -> Io {
    if s == "-" { Io::Std } else { Io::Path(PathBuf::from(s)) }
}

/// Runs the worker with the process's own arguments: everything after the program name, a
/// leading `xslt-worker` (the `longhall` subcommand's name) skipped. Returns the exit code.
pub fn run_worker() -> i32 {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("xslt-worker") {
        args.remove(0);
    }
    run_worker_args(args)
}

/// Runs the worker with explicit arguments (those after the subcommand name):
/// `--stylesheet PATH [--input PATH|- --output PATH|-]...`. Returns the process exit code.
/// Call it at most once per process: the security policy it installs is process-wide.
pub fn run_worker_args<I: IntoIterator<Item = String>>(args: I) -> i32 {
    let mut stylesheet = None;
    let mut time_limit: Option<Duration> = None;
    let mut lifeline = false;
    let mut jobs: Vec<(Io, Io)> = Vec::new();
    let mut pending: Option<Io> = None;
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next().ok_or_else(|| {
                eprintln!("longhall-xslt-worker: {name} needs a value\n{USAGE}");
            })
        };
        match a.as_str() {
            "--stylesheet" => match value("--stylesheet") {
                Ok(v) => stylesheet = Some(PathBuf::from(v)),
                Err(()) => return EXIT_USAGE,
            },
            "--time-limit-ms" => match value("--time-limit-ms").map(|v| v.parse::<u64>()) {
                Ok(Ok(ms)) => time_limit = Some(Duration::from_millis(ms)),
                Ok(Err(_)) => {
                    eprintln!("longhall-xslt-worker: --time-limit-ms needs a number of milliseconds\n{USAGE}");
                    return EXIT_USAGE;
                }
                Err(()) => return EXIT_USAGE,
            },
            "--lifeline" => lifeline = true,
            "--input" => match value("--input") {
                Ok(v) if pending.is_none() => pending = Some(io_arg(v)),
                Ok(_) => {
                    eprintln!("longhall-xslt-worker: --input without an --output\n{USAGE}");
                    return EXIT_USAGE;
                }
                Err(()) => return EXIT_USAGE,
            },
            "--output" => match (value("--output"), pending.take()) {
                (Ok(v), Some(input)) => jobs.push((input, io_arg(v))),
                (Ok(_), None) => {
                    eprintln!("longhall-xslt-worker: --output without an --input\n{USAGE}");
                    return EXIT_USAGE;
                }
                (Err(()), _) => return EXIT_USAGE,
            },
            "--help" | "-h" => {
                println!("{USAGE}");
                return EXIT_OK;
            }
            other => {
                eprintln!("longhall-xslt-worker: unexpected argument {other:?}\n{USAGE}");
                return EXIT_USAGE;
            }
        }
    }
    if pending.is_some() {
        eprintln!("longhall-xslt-worker: --input without an --output\n{USAGE}");
        return EXIT_USAGE;
    }
    let Some(stylesheet) = stylesheet else {
        eprintln!("longhall-xslt-worker: --stylesheet is required\n{USAGE}");
        return EXIT_USAGE;
    };
    if jobs.is_empty() {
        jobs.push((Io::Std, Io::Std));
    }
    if lifeline && jobs.iter().any(|(input, _)| *input == Io::Std) {
        eprintln!("longhall-xslt-worker: --lifeline needs every input from a file (stdin is the lifeline)\n{USAGE}");
        return EXIT_USAGE;
    }
    if let Some(limit) = time_limit {
        thread::spawn(move || {
            thread::sleep(limit);
            eprintln!("longhall-xslt-worker: stopped after its time limit of {} ms", limit.as_millis());
            exit_now(EXIT_TIMEOUT);
        });
    }
    if lifeline {
        thread::spawn(|| {
            // Nothing is ever written: any end of the read means the parent is gone.
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
            exit_now(EXIT_ORPHANED);
        });
    }
    let Some(folder) =
        stylesheet.parent().map(|p| if p.as_os_str().is_empty() { PathBuf::from(".") } else { p.to_path_buf() })
    else {
        eprintln!("longhall-xslt-worker: {} has no folder", stylesheet.display());
        return EXIT_USAGE;
    };
    let sandbox = match Sandbox::install(&folder) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("longhall-xslt-worker: {e}");
            return EXIT_STYLESHEET;
        }
    };
    let style = sandbox.compile(&stylesheet);
    if style.is_none() || refused() {
        eprintln!("longhall-xslt-worker: the stylesheet could not be compiled");
        return EXIT_STYLESHEET;
    }
    let Some(style) = style else { return EXIT_STYLESHEET };
    let count = jobs.len();
    for (n, (input, output)) in jobs.into_iter().enumerate() {
        let doc = match &input {
            Io::Std => Document::parse_stdin(),
            Io::Path(p) => Document::parse_file(p),
        };
        let Some(doc) = doc else {
            eprintln!("longhall-xslt-worker: the input is not well-formed XML or could not be read");
            return EXIT_INPUT;
        };
        let result = style.apply(&doc);
        if result.is_none() || refused() {
            eprintln!("longhall-xslt-worker: the transformation failed");
            return EXIT_TRANSFORM;
        }
        let Some(result) = result else { return EXIT_TRANSFORM };
        let saved = match &output {
            Io::Std => style.save_stdout(&result),
            Io::Path(p) => match File::create(p) {
                Ok(f) => style.save(&result, &f),
                Err(e) => {
                    eprintln!("longhall-xslt-worker: {}: {e}", p.display());
                    false
                }
            },
        };
        if !saved {
            eprintln!("longhall-xslt-worker: writing the result failed");
            return EXIT_OUTPUT;
        }
        if n + 1 == count {
            // The process ends now: freeing a large document tree node by node only costs time
            // (a quarter of a 1-million-event run), so the last job's trees are left to the
            // kernel. Earlier jobs free theirs so memory stays that of the largest file.
            std::mem::forget(result);
            std::mem::forget(doc);
            std::mem::forget(style);
            break;
        }
    }
    EXIT_OK
}
