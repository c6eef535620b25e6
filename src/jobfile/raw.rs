//! The job file as written: serde types with spans on the names, IDs and dependencies that later
//! checks report on. Deserialisation is strict (`deny_unknown_fields` everywhere, no `untagged`
//! or `flatten`); the same types generate `schemas/job.schema.json`.

use super::values::{AmountSpec, CrashLimitSpec, PinSpec, StdioSpec};
use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

/// Declares a struct holding the task-body keys shared by `[[task]]`, `[array]`, `[[step]]`,
/// `[defaults]` and `[profiles.NAME]`, plus its own `extra` keys. serde's `flatten` would do
/// this but breaks `deny_unknown_fields` and spans, so the shared keys are repeated by a macro.
macro_rules! body_struct {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident : $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
            /// Program and arguments, run directly (no shell). Required (here or in a profile).
            #[schemars(with = "Option<Vec<String>>")]
            pub command: Option<Spanned<Vec<Spanned<String>>>>,
            /// Extra environment variables (`env = { A = "1" }` or `[task.env]`).
            #[schemars(with = "Option<BTreeMap<String, String>>")]
            pub env: Option<BTreeMap<String, Spanned<String>>>,
            /// Working directory; `%{...}` placeholders allowed. Default: the submit directory.
            #[schemars(with = "Option<String>")]
            pub cwd: Option<Spanned<String>>,
            /// `"none"`, a path, or `{ path = "...", on_close = "rm-if-finished" }`.
            #[schemars(with = "Option<StdioSpec>")]
            pub stdout: Option<Spanned<StdioSpec>>,
            /// `"none"`, a path, or `{ path = "...", on_close = "rm-if-finished" }`.
            #[schemars(with = "Option<StdioSpec>")]
            pub stderr: Option<Spanned<StdioSpec>>,
            /// Bytes written to the task's standard input.
            #[schemars(with = "Option<String>")]
            pub stdin: Option<Spanned<String>>,
            /// CPU pinning: `"none"`, `"taskset"` or `"omp"`.
            pub pin: Option<PinSpec>,
            /// Give the task a fresh directory (`HQ_TASK_DIR`) deleted when it ends.
            pub task_dir: Option<bool>,
            /// Kill and fail an execution running longer than this (humantime: `"1h 30m"`).
            #[schemars(with = "Option<String>")]
            pub time_limit: Option<Spanned<String>>,
            /// Scheduling priority; higher runs first.
            pub priority: Option<i32>,
            /// Worker losses a task survives: integer >= 1, `"never-restart"` or `"unlimited"`.
            #[schemars(with = "Option<CrashLimitSpec>")]
            pub crash_limit: Option<Spanned<CrashLimitSpec>>,
            /// [ext] Re-run a task whose program failed up to this many more times.
            pub max_retries: Option<u32>,
            /// [ext] Growth per retry: `{ time_limit = 2.0, mem = 1.5 }` multiplies the time
            /// limit and the named resource amounts by the factor for every retry so far.
            #[schemars(with = "Option<BTreeMap<String, f64>>")]
            pub retry_growth: Option<Spanned<BTreeMap<String, f64>>>,
            /// Resource request variants (`[[task.request]]`); the first that fits is preferred.
            #[schemars(with = "Option<Vec<RawRequest>>")]
            pub request: Option<Spanned<Vec<Spanned<RawRequest>>>>,
            /// [ext] Name of a `[profiles.NAME]` table whose keys this one inherits.
            #[schemars(with = "Option<String>")]
            pub profile: Option<Spanned<String>>,
        }

        impl $name {
            /// A copy of the shared task-body keys.
            pub fn body(&self) -> RawBody {
                RawBody {
                    command: self.command.clone(),
                    env: self.env.clone(),
                    cwd: self.cwd.clone(),
                    stdout: self.stdout.clone(),
                    stderr: self.stderr.clone(),
                    stdin: self.stdin.clone(),
                    pin: self.pin,
                    task_dir: self.task_dir,
                    time_limit: self.time_limit.clone(),
                    priority: self.priority,
                    crash_limit: self.crash_limit.clone(),
                    max_retries: self.max_retries,
                    retry_growth: self.retry_growth.clone(),
                    request: self.request.clone(),
                    profile: self.profile.clone(),
                }
            }
        }
    };
}

/// The whole job file.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "HyperQueue job file")]
pub struct RawJobFile {
    /// Job name (default empty).
    pub name: Option<String>,
    /// Abort the job's remaining tasks once more than this many tasks failed.
    pub max_fails: Option<u32>,
    /// Stream directory: channels without an explicit `stdout`/`stderr` are streamed there.
    pub stream: Option<String>,
    /// Accepted and ignored (reserved).
    pub data_layer: Option<bool>,
    /// Individual tasks (`[[task]]`).
    #[schemars(with = "Option<Vec<RawTask>>")]
    pub task: Option<Spanned<Vec<Spanned<RawTask>>>>,
    /// A uniform task array.
    #[schemars(with = "Option<RawArray>")]
    pub array: Option<Spanned<RawArray>>,
    /// [ext] Named, possibly parameterised steps (`[[step]]`), rendered with templates.
    #[schemars(with = "Option<Vec<RawStep>>")]
    pub step: Option<Vec<Spanned<RawStep>>>,
    /// [ext] Keys inherited by every task, array and step.
    pub defaults: Option<RawBody>,
    /// [ext] Named sets of keys, selected with `profile = "NAME"`.
    #[schemars(with = "Option<BTreeMap<String, RawBody>>")]
    pub profiles: Option<BTreeMap<String, Spanned<RawBody>>>,
    /// [ext] Parameter axes that steps sweep with `product` or `zip`.
    #[schemars(with = "Option<BTreeMap<String, RawAxis>>")]
    pub axes: Option<BTreeMap<String, Spanned<RawAxis>>>,
    /// [ext] Constants available to every step template by name.
    #[schemars(with = "Option<BTreeMap<String, serde_json::Value>>")]
    pub vars: Option<BTreeMap<String, Spanned<serde_json::Value>>>,
}

body_struct! {
    /// Keys shared by tasks; used for `[defaults]` and `[profiles.NAME]`.
    RawBody {}
}

body_struct! {
    /// One `[[task]]`.
    RawTask {
        /// Task ID (default: automatic, after the largest explicit ID).
        #[schemars(with = "Option<u32>")]
        id: Option<Spanned<u32>>,
        /// IDs of tasks that must finish first.
        #[schemars(with = "Option<Vec<u32>>")]
        deps: Option<Vec<Spanned<u32>>>,
    }
}

body_struct! {
    /// The `[array]` table: one body, many IDs.
    RawArray {
        /// Task IDs in ID-selector syntax (`"1,2,50-100"`, `"0-10:2"`).
        #[schemars(with = "Option<String>")]
        ids: Option<Spanned<String>>,
        /// Per-task `HQ_ENTRY` values.
        #[schemars(with = "Option<Vec<String>>")]
        entries: Option<Spanned<Vec<String>>>,
    }
}

body_struct! {
    /// [ext] One `[[step]]`: a named task or a sweep over axes; its strings are templates.
    RawStep {
        /// Unique step name, used by `deps` of other steps.
        #[schemars(with = "String")]
        name: Option<Spanned<String>>,
        /// Axes combined as a Cartesian product (last axis varies fastest).
        #[schemars(with = "Option<Vec<String>>")]
        product: Option<Spanned<Vec<Spanned<String>>>>,
        /// Axes of equal length combined element by element.
        #[schemars(with = "Option<Vec<String>>")]
        zip: Option<Spanned<Vec<Spanned<String>>>>,
        /// Steps whose tasks with the same values on shared axes must finish first.
        #[schemars(with = "Option<Vec<String>>")]
        deps: Option<Vec<Spanned<String>>>,
        /// Steps all of whose tasks must finish first (fan-in).
        #[schemars(with = "Option<Vec<String>>")]
        deps_all: Option<Vec<Spanned<String>>>,
        /// First task ID of the step (default: after every ID used before it).
        #[schemars(with = "Option<u32>")]
        first_id: Option<Spanned<u32>>,
    }
}

/// One resource variant (`[[task.request]]`).
#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRequest {
    /// Resource name -> amount: `2`, `1.5`, `"4 compact!"`, `"all"`.
    #[schemars(with = "Option<BTreeMap<String, AmountSpec>>")]
    pub resources: Option<BTreeMap<String, Spanned<AmountSpec>>>,
    /// Number of whole workers of a multi-node task.
    pub n_nodes: Option<u32>,
    /// Minimal remaining worker lifetime (humantime).
    #[schemars(with = "Option<String>")]
    pub time_request: Option<Spanned<String>>,
    /// Scheduler weight, > 0 (default 1.0).
    #[schemars(with = "Option<f64>")]
    pub weight: Option<Spanned<f64>>,
}

/// [ext] One parameter axis: exactly one of `values`, `range`, `lines`, `json`, `glob`.
#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAxis {
    /// Literal values (strings, numbers, tables...).
    pub values: Option<Vec<serde_json::Value>>,
    /// Integers in ID-selector syntax: `"1-10"`, `"0-100:5"`, `"1,2,8"`.
    #[schemars(with = "Option<String>")]
    pub range: Option<Spanned<String>>,
    /// A text file (relative to the job file); one value per line.
    #[schemars(with = "Option<String>")]
    pub lines: Option<Spanned<String>>,
    /// A JSON file whose top-level array gives the values.
    #[schemars(with = "Option<String>")]
    pub json: Option<Spanned<String>>,
    /// A glob over files; `{name}` matches within one path component and is captured.
    #[schemars(with = "Option<String>")]
    pub glob: Option<Spanned<String>>,
    /// Allow a glob that matches no file (the axis is then empty).
    pub allow_empty: Option<bool>,
}
