//! Job-file step templates (minijinja, strict undefined) shared by the planner, which checks and
//! renders them once, and the worker, which renders a templated body for each task it runs, so
//! a templated sweep is stored and sent once rather than once per task.

use crate::protocol::messages::{BodyTemplate, ProgramDesc, StdioDef, TaskId};
use minijinja::{Environment, UndefinedBehavior, Value};
use std::collections::BTreeMap;

/// The environment every job-file template is rendered in.
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(true);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env
}

/// Whether `text` contains template syntax at all (plain strings are used as written).
pub fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%") || text.contains("{#")
}

/// The context of task `task`: the template's static variables, the task's parameter values
/// (its `HQ_ENTRY`, a JSON object) and `index`.
fn context(tpl: &BodyTemplate, task: TaskId, entry: Option<&[u8]>) -> Result<Value, String> {
    let mut map: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(&tpl.context).map_err(|e| format!("invalid template context: {e}"))?;
    if let Some(entry) = entry {
        if let Ok(serde_json::Value::Object(values)) = serde_json::from_slice(entry) {
            map.extend(values);
        }
    }
    map.insert(
        "index".into(),
        serde_json::Value::from(task.saturating_sub(tpl.first_id)),
    );
    Ok(Value::from_serialize(&map))
}

/// Renders every templated string of `program` for one task.
pub fn render_program(
    program: &ProgramDesc,
    tpl: &BodyTemplate,
    task: TaskId,
    entry: Option<&[u8]>,
) -> Result<ProgramDesc, String> {
    let env = environment();
    let ctx = context(tpl, task, entry)?;
    let render = |text: &str| -> Result<String, String> {
        if !is_template(text) {
            return Ok(text.to_string());
        }
        env.render_str(text, &ctx)
            .map_err(|e| format!("cannot render the template `{text}`: {e}"))
    };
    let stdio = |def: &StdioDef| -> Result<StdioDef, String> {
        Ok(match def {
            StdioDef::File {
                path,
                rm_if_finished,
            } => StdioDef::File {
                path: render(path)?,
                rm_if_finished: *rm_if_finished,
            },
            other => other.clone(),
        })
    };
    Ok(ProgramDesc {
        args: program
            .args
            .iter()
            .map(|a| render(a))
            .collect::<Result<_, _>>()?,
        env: program
            .env
            .iter()
            .map(|(k, v)| Ok((k.clone(), render(v)?)))
            .collect::<Result<_, String>>()?,
        cwd: render(&program.cwd)?,
        stdout: stdio(&program.stdout)?,
        stderr: stdio(&program.stderr)?,
        stdin: program.stdin.clone(),
    })
}
