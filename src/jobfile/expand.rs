//! From the raw file to planner [`Definitions`]: HQ `[[task]]`/`[array]` as written, and
//! `[[step]]` sweeps expanded over their axes with every template rendered per task.

use super::axes::{expand_axis, Axis};
use super::body::{build_body, render_program, BodyContext, ProgramSource};
use super::raw::{RawBody, RawJobFile, RawStep};
use super::template::{self, STEP_VARIABLES};
use crate::common::idset::IdSet;
use crate::plan::defs::{ArrayDef, Definitions, StepDef, StepDep, Sweep, TaskDef};
use crate::plan::error::{did_you_mean, Diag, ErrorKind};
use crate::protocol::messages::{BodyTemplate, TaskBody, TaskId};
use minijinja::Value;
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::Path;
use toml::Spanned;

/// Where the file came from and how tasks default.
pub struct ExpandContext<'a> {
    /// The job file's text (for precise template carets).
    pub source: &'a str,
    /// Directory relative to which `lines`, `json` and `glob` are resolved.
    pub base_dir: &'a Path,
    pub submit_dir: &'a str,
    pub allow_external_deps: bool,
}

pub fn definitions(raw: RawJobFile, cx: &ExpandContext) -> Result<Definitions, Diag> {
    let tasks = raw.task.as_ref().filter(|t| !t.get_ref().is_empty());
    let steps = raw.step.as_deref().unwrap_or_default();
    if tasks.is_none() && raw.array.is_none() && steps.is_empty() {
        let at = raw.task.as_ref().map_or(0..0, |t| t.span());
        return Err(Diag::new(ErrorKind::Invalid, "No tasks defined")
            .at(at, "no `[[task]]`, `[array]` or `[[step]]` in this file")
            .help("add at least one `[[task]]` (or an `[array]`, or a `[[step]]`)"));
    }
    if let (Some(_), Some(array)) = (tasks, &raw.array) {
        return Err(Diag::new(
            ErrorKind::Invalid,
            "Definition of array job and individual task cannot be mixed",
        )
        .at(array.span(), "this array")
        .help("use either `[[task]]` tables or one `[array]` table"));
    }
    let mut profiles = BTreeMap::new();
    for (name, body) in raw.profiles.iter().flatten() {
        if let Some(p) = &body.get_ref().profile {
            return Err(Diag::new(
                ErrorKind::Invalid,
                "a profile cannot select another profile",
            )
            .at(p.span(), "not allowed in `[profiles.NAME]`"));
        }
        profiles.insert(name.clone(), (body.span(), body.get_ref().clone()));
    }
    let stream = raw.stream.clone();
    let ctx = BodyContext {
        submit_dir: cx.submit_dir,
        stream: stream.is_some(),
        defaults: raw.defaults.as_ref(),
        profiles: &profiles,
    };
    let mut defs = Definitions {
        name: raw.name.clone().unwrap_or_default(),
        max_fails: raw.max_fails,
        stream,
        allow_external_deps: cx.allow_external_deps,
        ..Default::default()
    };
    for task in tasks.map(|t| t.get_ref().as_slice()).unwrap_or_default() {
        let t = task.get_ref();
        let owner = match &t.id {
            Some(id) => format!("task {}", id.get_ref()),
            None => "task".to_string(),
        };
        defs.tasks.push(TaskDef {
            id: t.id.as_ref().map(|i| (*i.get_ref(), i.span())),
            span: task.span(),
            deps: t
                .deps
                .iter()
                .flatten()
                .map(|d| (*d.get_ref(), d.span()))
                .collect(),
            body: literal_body(&t.body(), &ctx, &owner, task.span())?,
        });
    }
    if let Some(array) = &raw.array {
        defs.array = Some(array_def(array, &ctx)?);
    }
    if !steps.is_empty() {
        let axes = expand_axes(&raw, cx.base_dir)?;
        let vars = variables(&raw, &axes, &defs.name)?;
        let env = template::environment();
        let mut seen: HashMap<String, Range<usize>> = HashMap::new();
        for step in steps {
            let def = step_def(step, &ctx, cx, &axes, &vars, &env)?;
            if let Some(first) = seen.get(&def.name) {
                return Err(Diag::new(
                    ErrorKind::Duplicate,
                    format!("step `{}` is defined multiple times", def.name),
                )
                .at(def.name_span.clone(), "defined again here")
                .also(first.clone(), "first defined here")
                .help("step names must be unique"));
            }
            seen.insert(def.name.clone(), def.name_span.clone());
            defs.steps.push(def);
        }
    }
    Ok(defs)
}

/// A body whose strings are used as written (HQ `[[task]]` and `[array]`).
fn literal_body(
    raw: &RawBody,
    ctx: &BodyContext,
    owner: &str,
    span: Range<usize>,
) -> Result<TaskBody, Diag> {
    let (mut body, src) = build_body(raw, ctx, owner, span)?;
    body.program = render_program(&src, &body.program, ctx, &mut |t, _, _| Ok(t.to_string()))?;
    Ok(body)
}

fn array_def(array: &Spanned<super::raw::RawArray>, ctx: &BodyContext) -> Result<ArrayDef, Diag> {
    let a = array.get_ref();
    let body = literal_body(&a.body(), ctx, "array", array.span())?;
    let parse_ids = |ids: &Spanned<String>| {
        IdSet::parse(ids.get_ref()).map_err(|e| {
            Diag::new(
                ErrorKind::WrongType,
                format!("invalid `ids` of the array: {e}"),
            )
            .at(ids.span(), "invalid ID selector")
            .help("write IDs like `\"1,2,50-100\"` or `\"0-10:2\"`")
        })
    };
    let (ids, entries) = match (&a.ids, &a.entries) {
        (None, None) => {
            return Err(Diag::new(
                ErrorKind::Invalid,
                "One of attributes of array must be defined: 'ids', 'entries'",
            )
            .at(array.span(), "this array"))
        }
        (Some(ids), None) => (parse_ids(ids)?, None),
        (None, Some(entries)) => {
            let n = entries.get_ref().len() as u32;
            let bytes = entries
                .get_ref()
                .iter()
                .map(|e| e.as_bytes().to_vec())
                .collect();
            let ids = if n == 0 {
                IdSet::new()
            } else {
                IdSet::from_range(0, n - 1)
            };
            (ids, Some(bytes))
        }
        (Some(ids), Some(entries)) => {
            let set = parse_ids(ids)?;
            if set.len() != entries.get_ref().len() as u64 {
                return Err(Diag::new(
                    ErrorKind::Invalid,
                    "Items 'ids' and 'entries' does not match",
                )
                .at(
                    entries.span(),
                    format!("{} entries", entries.get_ref().len()),
                )
                .help(format!(
                    "`ids` names {} tasks; give one entry per ID",
                    set.len()
                )));
            }
            // Entries belong to IDs in the order the IDs are written; store them by ID.
            let mut pairs: Vec<(u32, Vec<u8>)> = Vec::new();
            let written = ids.get_ref().split(',').flat_map(|item| {
                IdSet::parse(item)
                    .map(|s| s.iter().collect::<Vec<_>>())
                    .unwrap_or_default()
            });
            for (id, e) in written.zip(entries.get_ref()) {
                pairs.push((id, e.as_bytes().to_vec()));
            }
            pairs.sort_by_key(|(id, _)| *id);
            (set, Some(pairs.into_iter().map(|(_, e)| e).collect()))
        }
    };
    if ids.is_empty() {
        return Err(Diag::new(ErrorKind::Invalid, "the array defines no tasks")
            .at(array.span(), "empty array")
            .help("give a non-empty `entries` list or `ids`"));
    }
    Ok(ArrayDef {
        ids,
        entries,
        span: array.span(),
        body,
    })
}

fn expand_axes(raw: &RawJobFile, base_dir: &Path) -> Result<BTreeMap<String, Axis>, Diag> {
    let mut axes = BTreeMap::new();
    for (name, def) in raw.axes.iter().flatten() {
        axes.insert(name.clone(), expand_axis(name, def, base_dir)?);
    }
    Ok(axes)
}

/// `[vars]` plus `job_name`, checked against axis and built-in names.
fn variables(
    raw: &RawJobFile,
    axes: &BTreeMap<String, Axis>,
    job_name: &str,
) -> Result<BTreeMap<String, Value>, Diag> {
    for axis in axes.values() {
        if STEP_VARIABLES.contains(&axis.name.as_str()) {
            return Err(Diag::new(
                ErrorKind::Axis,
                format!("axis name `{}` is reserved", axis.name),
            )
            .at(axis.name_span.clone(), "reserved name")
            .help(format!(
                "{} are built-in template variables",
                STEP_VARIABLES.join(", ")
            )));
        }
    }
    let mut vars = BTreeMap::new();
    vars.insert("job_name".to_string(), Value::from(job_name));
    for (n, value) in raw.vars.iter().flatten() {
        if STEP_VARIABLES.contains(&n.as_str()) || axes.contains_key(n) {
            return Err(Diag::new(
                ErrorKind::Invalid,
                format!("variable `{n}` clashes with an axis or a built-in variable"),
            )
            .at(value.span(), "rename this variable")
            .help("names in `[vars]` must differ from axis names and from step, index, job_name"));
        }
        vars.insert(n.clone(), Value::from_serialize(value.get_ref()));
    }
    Ok(vars)
}

fn step_def(
    step: &Spanned<RawStep>,
    ctx: &BodyContext,
    cx: &ExpandContext,
    axes: &BTreeMap<String, Axis>,
    vars: &BTreeMap<String, Value>,
    env: &minijinja::Environment<'static>,
) -> Result<StepDef, Diag> {
    let s = step.get_ref();
    let name = s.name.as_ref().ok_or_else(|| {
        Diag::new(ErrorKind::Invalid, "step has no `name`")
            .at(step.span(), "this step")
            .help("give every step a unique `name = \"...\"`; other steps use it in `deps`")
    })?;
    let valid = !name.get_ref().is_empty()
        && name
            .get_ref()
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
    if !valid {
        return Err(Diag::new(
            ErrorKind::Invalid,
            format!("invalid step name `{}`", name.get_ref()),
        )
        .at(name.span(), "invalid name")
        .help("step names use letters, digits, `_`, `-` and `.`"));
    }
    let (sweep, used) = sweep(s, axes)?;
    let count = sweep
        .count()
        .filter(|c| *c <= u32::MAX as u64)
        .ok_or_else(|| {
            Diag::new(
                ErrorKind::Invalid,
                format!(
                    "step `{}` expands to more tasks than there are task IDs",
                    name.get_ref()
                ),
            )
            .at(name.span(), "too many tasks")
        })?;
    let owner = format!("step `{}`", name.get_ref());
    let (base, src) = build_body(&s.body(), ctx, &owner, step.span())?;
    let per_task_names: Vec<String> = used
        .iter()
        .map(|a| a.name.clone())
        .chain(["index".to_string()])
        .collect();
    let mut static_names: Vec<String> = vars.keys().cloned().collect();
    static_names.push("step".into());
    let templates = template::compile(env, &src, cx.source, &per_task_names, &static_names)?;
    let mut base_ctx = vars.clone();
    base_ctx.insert("step".into(), Value::from(name.get_ref().as_str()));
    let axis_values: Vec<Vec<Value>> = used
        .iter()
        .map(|a| a.values.iter().map(Value::from_serialize).collect())
        .collect();
    let mut bodies: Vec<(u64, TaskBody)> = Vec::new();
    let renders = if templates.per_task {
        count
    } else {
        count.min(1)
    };
    for k in 0..renders {
        let mut extra: Vec<(&str, Value)> = vec![("index", Value::from(k))];
        for (i, axis) in used.iter().enumerate() {
            let v = axis_values[i][sweep.value_index(k, i) as usize].clone();
            extra.push((axis.name.as_str(), v));
        }
        let context = template::context(&base_ctx, &extra);
        let program = render(&src, &base, ctx, &templates, &context, cx.source)?;
        match bodies.last_mut() {
            Some((n, b)) if b.program == program => *n += 1,
            _ => {
                let mut body = base.clone();
                body.program = program;
                bodies.push((1, body));
            }
        }
    }
    if !templates.per_task {
        if let Some((n, _)) = bodies.last_mut() {
            *n = count;
        }
    }
    let entries = (!used.is_empty()).then(|| {
        (0..count)
            .map(|k| {
                let mut obj = serde_json::Map::new();
                for (i, axis) in used.iter().enumerate() {
                    let v = &axis.values[sweep.value_index(k, i) as usize];
                    obj.insert(axis.name.clone(), v.clone());
                }
                serde_json::to_vec(&serde_json::Value::Object(obj)).unwrap_or_default()
            })
            .collect()
    });
    if templates.per_task && bodies.len() > 1 {
        if let Some(body) = templated_body(&src, &base, ctx, &base_ctx, &bodies, entries.as_deref())
        {
            bodies = vec![(count, body)];
        }
    }
    let deps = s.deps.iter().flatten().map(|d| (d, false));
    let deps_all = s.deps_all.iter().flatten().map(|d| (d, true));
    Ok(StepDef {
        name: name.get_ref().clone(),
        name_span: name.span(),
        first_id: s.first_id.as_ref().map(|f| (*f.get_ref(), f.span())),
        sweep,
        deps: deps
            .chain(deps_all)
            .map(|(d, all)| StepDep {
                step: d.get_ref().clone(),
                span: d.span(),
                all,
            })
            .collect(),
        bodies,
        entries,
    })
}

/// One body whose strings the worker renders per task, instead of one body per task; `None`
/// when the worker's rendering would differ from the planner's (checked on the first and last
/// task), in which case the step keeps its rendered bodies.
fn templated_body(
    src: &ProgramSource,
    base: &TaskBody,
    ctx: &BodyContext,
    base_ctx: &BTreeMap<String, Value>,
    bodies: &[(u64, TaskBody)],
    entries: Option<&[Vec<u8>]>,
) -> Option<TaskBody> {
    let raw = render_program(src, &base.program, ctx, &mut |text, _, _| {
        Ok(text.to_string())
    })
    .ok()?;
    let tpl = BodyTemplate {
        context: serde_json::to_string(base_ctx).ok()?,
        first_id: 0,
    };
    let count: u64 = bodies.iter().map(|(n, _)| *n).sum();
    for k in [0, count.saturating_sub(1)] {
        let mut seen = 0;
        let expected = &bodies
            .iter()
            .find(|(n, _)| {
                seen += n;
                seen > k
            })?
            .1
            .program;
        let entry = entries
            .and_then(|e| e.get(k as usize))
            .map(|e| e.as_slice());
        let got = crate::common::template::render_program(&raw, &tpl, k as TaskId, entry).ok()?;
        if &got != expected {
            return None;
        }
    }
    let mut body = base.clone();
    body.program = raw;
    body.template = Some(tpl);
    Some(body)
}

fn render(
    src: &ProgramSource,
    base: &TaskBody,
    ctx: &BodyContext,
    templates: &template::StepTemplates,
    context: &Value,
    file: &str,
) -> Result<crate::protocol::messages::ProgramDesc, Diag> {
    render_program(src, &base.program, ctx, &mut |text, span, what| {
        templates.render(text, span, what, context, file)
    })
}

/// The step's sweep and the axes it uses, in the order written.
fn sweep<'a>(
    s: &RawStep,
    axes: &'a BTreeMap<String, Axis>,
) -> Result<(Sweep, Vec<&'a Axis>), Diag> {
    let (list, zip) = match (&s.product, &s.zip) {
        (Some(_), Some(z)) => {
            return Err(Diag::new(
                ErrorKind::Invalid,
                "a step cannot have both `product` and `zip`",
            )
            .at(z.span(), "second combination")
            .help("combine axes either as a product or element-wise (zip)"))
        }
        (Some(p), None) => (p, false),
        (None, Some(z)) => (z, true),
        (None, None) => return Ok((Sweep::single(), vec![])),
    };
    if list.get_ref().is_empty() {
        return Err(Diag::new(ErrorKind::Invalid, "the list of axes is empty")
            .at(list.span(), "no axes")
            .help(
                "name at least one axis defined in `[axes]`, or remove the key for a single task",
            ));
    }
    let mut used: Vec<&Axis> = Vec::new();
    for name in list.get_ref() {
        let axis = axes.get(name.get_ref()).ok_or_else(|| {
            let hint = did_you_mean(name.get_ref(), axes.keys().map(String::as_str))
                .unwrap_or_else(|| {
                    "define it as `[axes.NAME]` with `values`, `range`, `lines`, `json` or `glob`"
                        .into()
                });
            Diag::new(
                ErrorKind::Axis,
                format!("unknown axis `{}`", name.get_ref()),
            )
            .at(name.span(), "not defined in `[axes]`")
            .help(hint)
        })?;
        if used.iter().any(|a| a.name == axis.name) {
            return Err(Diag::new(
                ErrorKind::Axis,
                format!("axis `{}` is listed twice", axis.name),
            )
            .at(name.span(), "repeated axis"));
        }
        if zip && !used.is_empty() && used[0].values.len() != axis.values.len() {
            return Err(Diag::new(
                ErrorKind::Axis,
                format!(
                    "cannot zip axes of different lengths: `{}` has {} values, `{}` has {}",
                    used[0].name,
                    used[0].values.len(),
                    axis.name,
                    axis.values.len()
                ),
            )
            .at(name.span(), "different length")
            .help("`zip` pairs values element by element; use `product` for all combinations"));
        }
        used.push(axis);
    }
    let sweep = Sweep {
        axes: used
            .iter()
            .map(|a| (a.name.clone(), a.values.len() as u64))
            .collect(),
        zip,
    };
    Ok((sweep, used))
}
