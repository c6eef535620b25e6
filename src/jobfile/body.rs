//! From raw task keys to a [`TaskBody`]: applies `[defaults]` and profiles, parses resource
//! requests, durations and crash limits, and fills in the CLI-compatible defaults (cwd = submit
//! directory, outputs under `%{CWD}/job-%{JOB_ID}/`, one CPU).

use super::raw::{RawBody, RawRequest};
use super::values::{AmountSpec, CrashLimitSpec, PinSpec, StdioSpec};
use crate::common::duration::parse_humantime;
use crate::common::placeholders;
use crate::plan::error::{did_you_mean, Diag, ErrorKind};
use crate::protocol::messages::{CrashLimit, PinMode, ProgramDesc, StdioDef, TaskBody};
use crate::resources::{
    AllocationRequest, ResourceAmount, ResourceRequest, ResourceRequestVariants,
};
use std::collections::BTreeMap;
use std::ops::Range;
use toml::Spanned;

/// What every body needs besides its own keys.
pub struct BodyContext<'a> {
    pub submit_dir: &'a str,
    pub stream: bool,
    pub defaults: Option<&'a RawBody>,
    pub profiles: &'a BTreeMap<String, (Range<usize>, RawBody)>,
}

/// The program's strings with their spans, before templates are rendered.
#[derive(Debug, Clone)]
pub struct ProgramSource {
    pub args: Vec<Spanned<String>>,
    pub env: Vec<(String, Spanned<String>)>,
    pub cwd: Option<Spanned<String>>,
    pub stdout: Option<Spanned<StdioSpec>>,
    pub stderr: Option<Spanned<StdioSpec>>,
}

/// Builds the body of a task, array or step. `owner` names it in messages; `owner_span` is
/// where missing keys are reported.
pub fn build_body(
    own: &RawBody,
    ctx: &BodyContext,
    owner: &str,
    owner_span: Range<usize>,
) -> Result<(TaskBody, ProgramSource), Diag> {
    let raw = merged(own, ctx)?;
    let command = raw.command.as_ref().ok_or_else(|| {
        Diag::new(ErrorKind::EmptyCommand, format!("{owner} has no `command`"))
            .at(owner_span.clone(), "defined here")
            .help("add `command = [\"program\", \"arg\", ...]`")
    })?;
    if command.get_ref().is_empty() {
        return Err(Diag::new(
            ErrorKind::EmptyCommand,
            format!("{owner} has an empty `command`"),
        )
        .at(command.span(), "empty command")
        .help("the first element is the program to run, e.g. `[\"sh\", \"-c\", \"echo hi\"]`"));
    }
    let source = ProgramSource {
        args: command.get_ref().clone(),
        env: raw
            .env
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        cwd: raw.cwd.clone(),
        stdout: raw.stdout.clone(),
        stderr: raw.stderr.clone(),
    };
    let time_limit_ms = match &raw.time_limit {
        Some(t) => Some(duration(t, "time limit")?.as_millis() as u64),
        None => None,
    };
    let body = TaskBody {
        program: ProgramDesc {
            args: vec![],
            env: vec![],
            cwd: String::new(),
            stdout: StdioDef::Null,
            stderr: StdioDef::Null,
            stdin: raw
                .stdin
                .as_ref()
                .map(|s| s.get_ref().as_bytes().to_vec())
                .unwrap_or_default(),
        },
        resources: requests(raw.request.as_ref())?,
        pin: match raw.pin {
            None | Some(PinSpec::None) => PinMode::None,
            Some(PinSpec::Taskset) => PinMode::TaskSet,
            Some(PinSpec::Omp) => PinMode::OpenMp,
        },
        task_dir: raw.task_dir.unwrap_or(false),
        time_limit_ms,
        priority: raw.priority.unwrap_or(0),
        crash_limit: match raw.crash_limit.as_ref().map(|c| *c.get_ref()) {
            None => CrashLimit::Limit(5),
            Some(CrashLimitSpec::Limit(n)) => CrashLimit::Limit(n),
            Some(CrashLimitSpec::NeverRestart) => CrashLimit::NeverRestart,
            Some(CrashLimitSpec::Unlimited) => CrashLimit::Unlimited,
        },
        max_retries: raw.max_retries.unwrap_or(0),
        retry_growth: retry_growth(raw.retry_growth.as_ref())?,
        template: None,
    };
    if let Err(e) = body.check_limits() {
        let span = raw
            .crash_limit
            .as_ref()
            .filter(|_| e.contains("crash limit"))
            .map_or(owner_span, |c| c.span());
        return Err(Diag::new(ErrorKind::WrongType, format!("{owner}: {e}")).at(span, "too large"));
    }
    Ok((body, source))
}

/// Renders one string: (text, its span in the file, what it is, e.g. `command[1]`).
pub type RenderFn<'a> = dyn FnMut(&str, Range<usize>, &str) -> Result<String, Diag> + 'a;

/// Renders the program with `render` applied to every string that may hold a template.
pub fn render_program(
    src: &ProgramSource,
    base: &ProgramDesc,
    ctx: &BodyContext,
    render: &mut RenderFn,
) -> Result<ProgramDesc, Diag> {
    let mut args = Vec::with_capacity(src.args.len());
    for (i, a) in src.args.iter().enumerate() {
        let text = render(a.get_ref(), a.span(), &format!("command[{i}]"))?;
        if i == 0 && text.trim().is_empty() {
            return Err(
                Diag::new(ErrorKind::EmptyCommand, "the program name is empty")
                    .at(a.span(), "empty program")
                    .help("the first element of `command` is the program to run"),
            );
        }
        args.push(text);
    }
    let mut env = Vec::with_capacity(src.env.len());
    for (k, v) in &src.env {
        env.push((
            k.clone(),
            render(v.get_ref(), v.span(), &format!("env.{k}"))?,
        ));
    }
    let cwd = match &src.cwd {
        Some(c) if c.get_ref().trim().is_empty() => {
            return Err(Diag::new(ErrorKind::WrongType, "`cwd` must not be empty")
                .at(c.span(), "empty")
                .help("leave `cwd` out to run in the submit directory"));
        }
        Some(c) => {
            let cwd = render(c.get_ref(), c.span(), "cwd")?;
            placeholders::check_cwd(&cwd).map_err(|e| {
                Diag::new(ErrorKind::Invalid, e.to_string())
                    .at(c.span(), "used here")
                    .help("use `%{SUBMIT_DIR}` or a path relative to the submit directory")
            })?;
            cwd
        }
        None => ctx.submit_dir.to_string(),
    };
    let stdout = stdio(src.stdout.as_ref(), "stdout", ctx.stream, render)?;
    let stderr = stdio(src.stderr.as_ref(), "stderr", ctx.stream, render)?;
    Ok(ProgramDesc {
        args,
        env,
        cwd,
        stdout,
        stderr,
        stdin: base.stdin.clone(),
    })
}

fn stdio(
    spec: Option<&Spanned<StdioSpec>>,
    channel: &str,
    stream: bool,
    render: &mut RenderFn,
) -> Result<StdioDef, Diag> {
    let default_path = format!("%{{CWD}}/job-%{{JOB_ID}}/%{{TASK_ID}}.{channel}");
    let default = |rm_if_finished| {
        if stream {
            StdioDef::Stream
        } else {
            StdioDef::File {
                path: default_path.clone(),
                rm_if_finished,
            }
        }
    };
    let Some(spec) = spec else {
        return Ok(default(false));
    };
    Ok(match spec.get_ref() {
        StdioSpec::None => StdioDef::Null,
        StdioSpec::Path(p) => StdioDef::File {
            path: render(p, spec.span(), channel)?,
            rm_if_finished: false,
        },
        StdioSpec::Table {
            path: Some(p),
            rm_if_finished,
        } => StdioDef::File {
            path: render(p, spec.span(), channel)?,
            rm_if_finished: *rm_if_finished,
        },
        StdioSpec::Table {
            path: None,
            rm_if_finished,
        } => default(*rm_if_finished),
    })
}

/// Applies `[defaults]` < profile < own keys; `env` tables are merged key by key.
fn merged(own: &RawBody, ctx: &BodyContext) -> Result<RawBody, Diag> {
    let empty = RawBody::default();
    let defaults = ctx.defaults.unwrap_or(&empty);
    let profile = match own.profile.as_ref().or(defaults.profile.as_ref()) {
        None => &empty,
        Some(name) => match ctx.profiles.get(name.get_ref()) {
            Some((_, p)) => p,
            None => {
                return Err(Diag::new(
                    ErrorKind::Invalid,
                    format!("unknown profile `{}`", name.get_ref()),
                )
                .at(name.span(), "no `[profiles.NAME]` table has this name")
                .maybe_help(did_you_mean(
                    name.get_ref(),
                    ctx.profiles.keys().map(String::as_str),
                )))
            }
        },
    };
    let layers = [own, profile, defaults];
    macro_rules! pick {
        ($field:ident) => {
            layers.iter().find_map(|l| l.$field.clone())
        };
    }
    let mut env: Option<BTreeMap<String, Spanned<String>>> = None;
    for layer in layers.iter().rev() {
        if let Some(e) = &layer.env {
            env.get_or_insert_with(BTreeMap::new).extend(e.clone());
        }
    }
    Ok(RawBody {
        command: pick!(command),
        env,
        cwd: pick!(cwd),
        stdout: pick!(stdout),
        stderr: pick!(stderr),
        stdin: pick!(stdin),
        pin: pick!(pin),
        task_dir: pick!(task_dir),
        time_limit: pick!(time_limit),
        priority: pick!(priority),
        crash_limit: pick!(crash_limit),
        max_retries: pick!(max_retries),
        retry_growth: pick!(retry_growth),
        request: pick!(request),
        profile: None,
    })
}

/// `retry_growth = { time_limit = 2.0, mem = 1.5 }`: factors ≥ 1 with at most 4 decimals.
fn retry_growth(
    raw: Option<&Spanned<BTreeMap<String, f64>>>,
) -> Result<Vec<(String, ResourceAmount)>, Diag> {
    let Some(raw) = raw else { return Ok(vec![]) };
    let mut out = Vec::new();
    for (name, factor) in raw.get_ref() {
        if !factor.is_finite() || *factor < 1.0 {
            return Err(Diag::new(
                ErrorKind::WrongType,
                format!("invalid growth factor {factor} for `{name}` in `retry_growth`"),
            )
            .at(raw.span(), "factor below 1")
            .help("use factors of at least 1.0, e.g. `retry_growth = { time_limit = 2.0 }`"));
        }
        out.push((
            name.clone(),
            ResourceAmount((factor * 10_000.0).round() as u64),
        ));
    }
    Ok(out)
}

fn duration(text: &Spanned<String>, what: &str) -> Result<std::time::Duration, Diag> {
    parse_humantime(text.get_ref()).map_err(|e| {
        Diag::new(ErrorKind::WrongType, format!("invalid {what}: {e}"))
            .at(text.span(), "not a duration")
            .help("job files accept humantime durations only: `90s`, `30m`, `1h 30m`")
    })
}

type RawRequests = Spanned<Vec<Spanned<RawRequest>>>;

fn requests(raw: Option<&RawRequests>) -> Result<ResourceRequestVariants, Diag> {
    let Some(list) = raw else {
        return Ok(ResourceRequestVariants::single(
            ResourceRequest::default_cpu(),
        ));
    };
    let mut variants = Vec::new();
    for req in list.get_ref() {
        variants.push(request(req)?);
    }
    let variants = ResourceRequestVariants { variants };
    variants.validate().map_err(|e| {
        Diag::new(ErrorKind::Resource, e.to_string())
            .at(list.span(), "these resource variants")
            .help("give 1 to 32 `[[task.request]]` tables, all with or all without `n_nodes`")
    })?;
    Ok(variants)
}

fn request(req: &Spanned<RawRequest>) -> Result<ResourceRequest, Diag> {
    let raw = req.get_ref();
    let mut out = ResourceRequest {
        n_nodes: raw.n_nodes.unwrap_or(0),
        ..Default::default()
    };
    if let Some(t) = &raw.time_request {
        out.min_time_secs = crate::common::duration::whole_secs_up(duration(t, "time request")?);
    }
    if let Some(w) = &raw.weight {
        let units = fixed_point(*w.get_ref())
            .filter(|u| *u > 0)
            .ok_or_else(|| {
                Diag::new(
                    ErrorKind::Resource,
                    format!("invalid weight {}", w.get_ref()),
                )
                .at(w.span(), "weight must be a positive number")
            })?;
        out.weight = ResourceAmount(units);
    }
    for (name, amount) in raw.resources.iter().flatten() {
        check_resource_name(name, amount.span())?;
        let parsed = allocation(amount).map_err(|msg| {
            Diag::new(ErrorKind::Resource, format!("invalid request for resource `{name}`: {msg}"))
                .at(amount.span(), "invalid resource request")
                .help("write an amount (`2`, `0.5`, `\"1.25\"`), optionally with a policy (`\"4 compact!\"`, `\"2 tight\"`, `\"3 scatter\"`), or `\"all\"`")
        })?;
        out.add(name, parsed).map_err(|e| {
            Diag::new(ErrorKind::Resource, e.to_string()).at(amount.span(), "defined twice")
        })?;
    }
    if out.n_nodes == 0 && out.resources.is_empty() {
        // The spec's message, without the resource module's CLI-oriented wording.
        return Err(Diag::new(ErrorKind::Resource, "Resource request is empty")
            .at(req.span(), "this request")
            .help("add `resources = { cpus = 1 }` or `n_nodes = N`"));
    }
    out.validate().map_err(|e| {
        Diag::new(ErrorKind::Resource, e.to_string())
            .at(req.span(), "this request")
            .help("add `resources = { cpus = 1 }` or `n_nodes = N`")
    })?;
    Ok(out)
}

fn check_resource_name(n: &str, span: Range<usize>) -> Result<(), Diag> {
    let ok = n.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '/');
    if ok {
        return Ok(());
    }
    Err(
        Diag::new(ErrorKind::Resource, format!("invalid resource name `{n}`"))
            .at(span, "requested here")
            .help("resource names start with a letter and contain letters, digits or `/` (`gpus/nvidia`)"),
    )
}

/// A TOML number as a resource amount: floats are rounded up to 4 decimal places.
fn allocation(amount: &Spanned<AmountSpec>) -> Result<AllocationRequest, String> {
    match amount.get_ref() {
        AmountSpec::Text(t) => AllocationRequest::parse(t).map_err(|e| e.to_string()),
        AmountSpec::Int(n) if *n <= 0 => Err(if *n == 0 {
            "Zero resources cannot be requested".into()
        } else {
            format!("negative amount {n}")
        }),
        AmountSpec::Int(n) => Ok(AllocationRequest::Compact(ResourceAmount::whole(*n as u64))),
        AmountSpec::Float(f) => match fixed_point(*f) {
            Some(0) => Err("Zero resources cannot be requested".into()),
            Some(u) => Ok(AllocationRequest::Compact(ResourceAmount(u))),
            None => Err(format!("invalid amount {f}")),
        },
    }
}

/// `f` in 1/10000 units, rounded up (tiny float noise is ignored first); None when negative.
fn fixed_point(f: f64) -> Option<u64> {
    if !f.is_finite() || !(0.0..=1e14).contains(&f) {
        return None;
    }
    let scaled = ((f * 10_000.0) * 1e6).round() / 1e6;
    Some(scaled.ceil() as u64)
}

#[cfg(test)]
mod tests {
    use super::fixed_point;

    #[test]
    fn floats_round_up_at_four_decimals() {
        assert_eq!(fixed_point(1.5), Some(15_000));
        assert_eq!(fixed_point(0.1), Some(1_000));
        assert_eq!(fixed_point(0.00001), Some(1));
        assert_eq!(fixed_point(-1.0), None);
    }
}
