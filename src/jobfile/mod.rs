//! Job files: load (the only disk access, also for `lines`/`json`/`glob` axes) → parse with
//! spans → templates and sweep expansion → [`plan`](crate::plan). `plan_from_str` is the same
//! pipeline on a string, for tests.

mod axes;
mod body;
pub mod error;
mod expand;
mod keypath;
pub mod raw;
mod schema;
mod template;
pub mod values;

#[cfg(test)]
mod tests;

use crate::plan::error::{Diag, ErrorKind};
use crate::plan::{self, JobPlan};
pub use error::JobFileError;
pub use schema::job_schema_json;
use std::path::{Path, PathBuf};

/// How the client submits the file.
#[derive(Debug, Clone, Default)]
pub struct JobFileOptions {
    /// Absolute directory the client runs in: the default `cwd` of tasks.
    pub submit_dir: PathBuf,
    /// Allow `deps` on IDs the file does not define (`submit-file --job ID`: the server checks
    /// them against the open job).
    pub allow_external_deps: bool,
}

/// Reads and plans a job file; `lines`/`json`/`glob` sources are relative to its directory.
pub fn load_and_plan(path: &Path, opts: &JobFileOptions) -> Result<JobPlan, JobFileError> {
    let name = path.display().to_string();
    let source = std::fs::read_to_string(path).map_err(|e| {
        JobFileError::new(
            Diag::new(ErrorKind::Io, format!("cannot read job file: {e}")),
            &name,
            None,
        )
    })?;
    let base = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let base = if base.is_absolute() {
        base
    } else {
        opts.submit_dir.join(base)
    };
    plan_source(&source, &name, &base, opts)
}

/// Plans a job file given as text; relative source files are resolved against `submit_dir`.
pub fn plan_from_str(
    source: &str,
    file_name: &str,
    opts: &JobFileOptions,
) -> Result<JobPlan, JobFileError> {
    plan_source(source, file_name, &opts.submit_dir, opts)
}

fn plan_source(
    source: &str,
    file_name: &str,
    base_dir: &Path,
    opts: &JobFileOptions,
) -> Result<JobPlan, JobFileError> {
    let wrap = |d: Diag| JobFileError::new(d, file_name, Some(source));
    let raw = parse(source).map_err(wrap)?;
    let submit_dir = opts.submit_dir.to_string_lossy().to_string();
    let cx = expand::ExpandContext {
        source,
        base_dir,
        submit_dir: &submit_dir,
        allow_external_deps: opts.allow_external_deps,
    };
    let defs = expand::definitions(raw, &cx).map_err(wrap)?;
    plan::build(&defs).map_err(wrap)
}

/// Parses the TOML strictly into the raw types; errors carry the key path and a hint.
pub fn parse(source: &str) -> Result<raw::RawJobFile, Diag> {
    let tree = keypath::parse_tree(source).map_err(|e| {
        let message = e.message().trim().replace('\n', "; ");
        let mut d = Diag::new(ErrorKind::Syntax, format!("invalid TOML: {message}"));
        if let Some(span) = e.span() {
            d = d.at(span, "here");
        }
        d.help("check the TOML syntax: `key = value`, `[table]`, `[[task]]`, strings in quotes")
    })?;
    toml::from_str::<raw::RawJobFile>(source).map_err(|e| keypath::explain(&e, &tree))
}
