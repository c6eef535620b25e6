//! minijinja templates in `[[step]]` strings (command, env values, cwd, stdout/stderr). Undefined
//! variables are strict: they are found before rendering (naming the variable, with a "did you
//! mean") and any render failure points at the string in the job file.

use super::body::ProgramSource;
use super::values::StdioSpec;
use crate::plan::error::{did_you_mean, Diag, ErrorKind};
use minijinja::{Environment, Template, Value};
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

/// Functions minijinja provides that a template may use without defining them.
const BUILTIN_GLOBALS: &[&str] = &["range", "dict", "namespace", "debug", "loop"];

/// Names every step template may use besides its axes and `[vars]`.
pub const STEP_VARIABLES: &[&str] = &["step", "index", "job_name"];

pub use crate::common::template::{environment, is_template};

/// The compiled templates of one step, keyed by their source text.
pub struct StepTemplates<'env, 'src> {
    templates: HashMap<&'src str, Template<'env, 'src>>,
    /// Whether some template uses a per-task variable (an axis or `index`).
    pub per_task: bool,
}

/// Every string of `src` that may be a template, with its span.
fn strings(src: &ProgramSource) -> Vec<(&str, Range<usize>)> {
    let mut out: Vec<(&str, Range<usize>)> = Vec::new();
    out.extend(src.args.iter().map(|a| (a.get_ref().as_str(), a.span())));
    out.extend(
        src.env
            .iter()
            .map(|(_, v)| (v.get_ref().as_str(), v.span())),
    );
    out.extend(src.cwd.iter().map(|c| (c.get_ref().as_str(), c.span())));
    for s in src.stdout.iter().chain(src.stderr.iter()) {
        match s.get_ref() {
            StdioSpec::Path(p) | StdioSpec::Table { path: Some(p), .. } => {
                out.push((p.as_str(), s.span()))
            }
            _ => {}
        }
    }
    out
}

/// Compiles the templates of a step and checks that every variable they use is known.
pub fn compile<'env, 'src>(
    env: &'env Environment<'static>,
    src: &'src ProgramSource,
    file: &str,
    per_task_names: &[String],
    static_names: &[String],
) -> Result<StepTemplates<'env, 'src>, Diag> {
    let mut templates = HashMap::new();
    let mut per_task = false;
    for (text, span) in strings(src) {
        if !is_template(text) || templates.contains_key(text) {
            continue;
        }
        let tmpl = env
            .template_from_str(text)
            .map_err(|e| template_error(&e, text, span.clone(), file))?;
        let mut used: Vec<String> = tmpl.undeclared_variables(false).into_iter().collect();
        used.sort();
        for name in &used {
            if per_task_names.contains(name) {
                per_task = true;
            } else if !static_names.contains(name) && !BUILTIN_GLOBALS.contains(&name.as_str()) {
                let known: Vec<&str> = per_task_names
                    .iter()
                    .chain(static_names)
                    .map(String::as_str)
                    .collect();
                let at = precise(file, span.clone(), text, name).unwrap_or(span);
                return Err(Diag::new(
                    ErrorKind::Template,
                    format!("undefined variable `{name}` in template `{text}`"),
                )
                .at(at, "not defined")
                .help(match did_you_mean(name, known.iter().copied()) {
                    Some(d) => format!("{d} (available: {})", known.join(", ")),
                    None => format!("variables available in this step: {}", known.join(", ")),
                }));
            }
        }
        templates.insert(text, tmpl);
    }
    Ok(StepTemplates {
        templates,
        per_task,
    })
}

impl StepTemplates<'_, '_> {
    /// Renders `text` (as written in the file at `span`) with `ctx`.
    pub fn render(
        &self,
        text: &str,
        span: Range<usize>,
        what: &str,
        ctx: &Value,
        file: &str,
    ) -> Result<String, Diag> {
        match self.templates.get(text) {
            None => Ok(text.to_string()),
            Some(t) => t.render(ctx).map_err(|e| {
                let mut d = template_error(&e, text, span, file);
                d.message = format!("cannot render `{what}`: {}", d.message);
                d
            }),
        }
    }
}

/// The context of one task: `[vars]`, the step's built-ins and its axis values.
pub fn context(base: &BTreeMap<String, Value>, extra: &[(&str, Value)]) -> Value {
    let mut map = base.clone();
    for (k, v) in extra {
        map.insert((*k).to_string(), v.clone());
    }
    Value::from_iter(map)
}

fn template_error(e: &minijinja::Error, text: &str, span: Range<usize>, file: &str) -> Diag {
    let message = match (e.kind(), e.detail()) {
        (_, Some(detail)) => format!("{}: {detail}", e.kind()),
        (minijinja::ErrorKind::UndefinedError, None) => {
            "undefined value: a variable, attribute or item that does not exist".to_string()
        }
        (kind, None) => kind.to_string(),
    };
    let at = e
        .range()
        .and_then(|r| offset_in_file(file, span.clone(), text, r.start).map(|s| s..s + r.len()))
        .unwrap_or(span);
    Diag::new(ErrorKind::Template, format!("template error: {message}"))
        .at(at, "in this template")
        .help("templates use minijinja syntax: `{{ name }}`, `{{ x | upper }}`, `{% if %}`; write `{{ '{{' }}` for a literal `{{`")
}

/// Where byte `offset` of a string's value lies in the file, if the string has no escapes.
fn offset_in_file(file: &str, span: Range<usize>, value: &str, offset: usize) -> Option<usize> {
    let raw = file.get(span.clone())?;
    let quote = if raw.starts_with("\"\"\"") || raw.starts_with("'''") {
        3
    } else if raw.starts_with('"') || raw.starts_with('\'') {
        1
    } else {
        return None;
    };
    let inner = raw.get(quote..raw.len().checked_sub(quote)?)?;
    if inner == value {
        Some(span.start + quote + offset)
    } else if quote == 3 && inner.strip_prefix('\n') == Some(value) {
        Some(span.start + quote + 1 + offset)
    } else {
        None
    }
}

/// The span of the first use of variable `name` inside the string at `span`.
fn precise(file: &str, span: Range<usize>, value: &str, name: &str) -> Option<Range<usize>> {
    let bytes = value.as_bytes();
    let mut from = 0;
    while let Some(pos) = value[from..].find(name).map(|p| p + from) {
        let before_ok = pos == 0 || !is_ident(bytes[pos - 1]);
        let end = pos + name.len();
        let after_ok = end >= bytes.len() || !is_ident(bytes[end]);
        if before_ok && after_ok {
            let start = offset_in_file(file, span, value, pos)?;
            return Some(start..start + name.len());
        }
        from = pos + 1;
    }
    None
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'.'
}
