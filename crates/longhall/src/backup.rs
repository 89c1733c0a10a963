//! `longhall backup FILE`: a running server's snapshot (stores and files), saved and verified.
//! `longhall restore FILE DATA_DIR`: offline, into an empty directory; every checksum is
//! verified before anything is written, and the directory appears whole or not at all.

use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use longhall_client::Client;
use longhall_core::backup::{Manifest, read_archive};

use crate::cli::ClientArgs;

#[derive(clap::Args)]
#[command(after_help = "Example:\n  LONGHALL_TOKEN=lh_… longhall backup /var/backups/longhall-$(date +%F).backup")]
pub struct BackupArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Where to write the backup (a new file; an existing one is replaced only once the new
    /// backup is complete and verified).
    pub file: PathBuf,
}

#[derive(clap::Args)]
#[command(
    after_help = "Example:\n  longhall restore /var/backups/longhall-2026-12-03.backup /var/lib/longhall-restored"
)]
pub struct RestoreArgs {
    /// The backup file written by `longhall backup`.
    pub file: PathBuf,
    /// The data directory to create; it must not exist yet or be empty.
    pub data_dir: PathBuf,
}

/// Downloads a backup from a running server into `args.file`, then verifies it.
pub fn backup(args: BackupArgs) -> anyhow::Result<()> {
    // No overall timeout: a large deployment takes as long as it takes; a stalled one ends
    // when the server or the network gives up.
    let client = args.client.client(None)?;
    let partial = sibling(&args.file, "partial");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let written = rt.block_on(download(&client, &partial));
    let manifest = written.and_then(|bytes| {
        let manifest = verify(&partial).context("the downloaded backup does not verify")?;
        Ok((bytes, manifest))
    });
    match manifest {
        Ok((bytes, manifest)) => {
            std::fs::rename(&partial, &args.file)
                .with_context(|| format!("moving the backup into place at {}", args.file.display()))?;
            if args.client.json {
                println!("{}", serde_json::to_string_pretty(&manifest)?);
            } else {
                println!("{}", summary(&manifest, bytes, &args.file));
            }
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

async fn download(client: &Client, to: &Path) -> anyhow::Result<u64> {
    let mut backup = client.backup().await.map_err(crate::cli::explain)?;
    let mut out = std::fs::File::create(to).with_context(|| format!("creating {}", to.display()))?;
    let mut total = 0u64;
    while let Some(chunk) = backup.chunk().await.context("the server stopped sending the backup")? {
        out.write_all(&chunk).with_context(|| format!("writing {}", to.display()))?;
        total += chunk.len() as u64;
    }
    out.sync_all().with_context(|| format!("syncing {}", to.display()))?;
    Ok(total)
}

/// Reads the whole archive, checking every entry against the manifest; writes nothing.
fn verify(file: &Path) -> anyhow::Result<Manifest> {
    let f = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    Ok(read_archive(BufReader::with_capacity(1 << 20, f), |_, _| Ok(()))?)
}

fn summary(m: &Manifest, bytes: u64, file: &Path) -> String {
    let files = m.entries.iter().filter(|e| e.name.starts_with("files/")).count();
    format!(
        "backup: {} ({} bytes): {} store files and {files} uploaded files, taken at {} ms since 1970; verified",
        file.display(),
        bytes,
        m.entries.len() - files,
        m.created
    )
}

/// Restores `args.file` into `args.data_dir`.
pub fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    let target = &args.data_dir;
    if target.exists() {
        let mut entries = std::fs::read_dir(target).with_context(|| format!("reading {}", target.display()))?;
        if entries.next().is_some() {
            bail!(
                "{} is not empty: restore only into a new or empty directory (nothing was written)",
                target.display()
            );
        }
    }
    // First pass: the whole file verifies, or nothing is written.
    let manifest = verify(&args.file)
        .with_context(|| format!("{} can't be restored (nothing was written)", args.file.display()))?;
    let work = sibling(target, &format!("restoring-{}", std::process::id()));
    let extracted = extract(&args.file, &work);
    if let Err(e) = extracted {
        let _ = std::fs::remove_dir_all(&work);
        return Err(e.context("restoring failed; nothing was left behind"));
    }
    if target.exists() {
        std::fs::remove_dir(target).with_context(|| format!("replacing the empty {}", target.display()))?;
    }
    std::fs::rename(&work, target).with_context(|| format!("moving the restored data into {}", target.display()))?;
    let files = manifest.entries.iter().filter(|e| e.name.starts_with("files/")).count();
    println!(
        "restore: {} restored from {} ({} store files, {files} uploaded files); start it with `longhall serve --data-dir {}`",
        target.display(),
        args.file.display(),
        manifest.entries.len() - files,
        target.display()
    );
    Ok(())
}

/// Second pass: writes every entry under `work` (checksums are checked again on the way).
fn extract(file: &Path, work: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(work.join("files")).with_context(|| format!("creating {}", work.display()))?;
    let f = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    read_archive(BufReader::with_capacity(1 << 20, f), |head, bytes: &mut dyn Read| {
        // Names were checked by the reader: `chat.db`, `compliance.db` or `files/<key>`.
        let path = work.join(&head.name);
        let mut out = std::fs::File::create(&path)?;
        std::io::copy(bytes, &mut out)?;
        out.sync_all()
    })?;
    for dir in [work.join("files"), work.to_path_buf()] {
        std::fs::File::open(&dir).and_then(|d| d.sync_all()).with_context(|| format!("syncing {}", dir.display()))?;
    }
    Ok(())
}

/// `path` with `.suffix` added to its file name, in the same directory.
pub fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".{suffix}"));
    path.with_file_name(name)
}
