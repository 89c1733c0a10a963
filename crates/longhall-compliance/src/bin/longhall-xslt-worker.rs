//! The XSLT worker as its own program, for this crate's tests and benchmarks. The `longhall`
//! binary runs the same code from its hidden `xslt-worker` subcommand.

fn main() {
    std::process::exit(longhall_compliance::xslt::run_worker());
}
