//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use longhall_compliance::adapter::{Adapter, AdapterConfig, Output, StagedFile};
use longhall_compliance::batch::EventSource;
use longhall_compliance::sample;
use longhall_compliance::xslt::XsltRunner;

pub fn worker() -> XsltRunner {
    runner(Duration::from_secs(60))
}

pub fn runner(timeout: Duration) -> XsltRunner {
    XsltRunner::new(vec![env!("CARGO_BIN_EXE_longhall-xslt-worker").to_owned()], timeout)
}

pub fn stylesheet_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("stylesheets").join(name)
}

pub fn stylesheet(name: &str) -> String {
    std::fs::read_to_string(stylesheet_path(name)).unwrap()
}

/// Runs `adapter` over the sample batch into `dir`; returns the staged files.
pub fn run_sample(
    adapter: &mut dyn Adapter,
    config: &AdapterConfig,
) -> Result<Vec<StagedFile>, longhall_compliance::adapter::AdapterError> {
    run_source(adapter, config, &mut sample::source())
}

pub fn run_source(
    adapter: &mut dyn Adapter,
    config: &AdapterConfig,
    source: &mut dyn EventSource,
) -> Result<Vec<StagedFile>, longhall_compliance::adapter::AdapterError> {
    adapter.configure(config)?;
    let mut out = Output::new(&config.output_dir, &sample::batch_info().id);
    adapter.translate(&sample::batch_info(), source, &mut out)?;
    Ok(out.into_files())
}

/// Final names of staged files.
pub fn names(files: &[StagedFile]) -> Vec<String> {
    files.iter().map(|f| f.final_path.file_name().unwrap().to_string_lossy().into_owned()).collect()
}

pub fn config(dir: &Path) -> AdapterConfig {
    AdapterConfig { output_dir: dir.join("out"), files_dir: dir.join("files"), ..AdapterConfig::default() }
}

/// Compares `actual` with the committed golden file; `LONGHALL_UPDATE_GOLDEN=1` rewrites it.
pub fn golden(name: &str, actual: &[u8]) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    if std::env::var_os("LONGHALL_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with LONGHALL_UPDATE_GOLDEN=1 to create it)", path.display()));
    if expected != actual {
        panic!(
            "{} differs from the output (run with LONGHALL_UPDATE_GOLDEN=1 to accept):\n--- actual ---\n{}",
            path.display(),
            String::from_utf8_lossy(actual)
        );
    }
}
