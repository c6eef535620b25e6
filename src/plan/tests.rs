//! Planner tests on hand-built definitions (no TOML).

use super::defs::{Definitions, StepDef, StepDep, Sweep, TaskDef};
use super::error::ErrorKind;
use super::*;
use crate::protocol::messages::{CrashLimit, PinMode, ProgramDesc, StdioDef, TaskBody};
use crate::resources::{ResourceRequest, ResourceRequestVariants};

fn body(cmd: &str) -> TaskBody {
    TaskBody {
        program: ProgramDesc {
            args: vec![cmd.into()],
            env: vec![],
            cwd: "/".into(),
            stdout: StdioDef::Null,
            stderr: StdioDef::Null,
            stdin: vec![],
        },
        resources: ResourceRequestVariants::single(ResourceRequest::default_cpu()),
        pin: PinMode::None,
        task_dir: false,
        time_limit_ms: None,
        priority: 0,
        crash_limit: CrashLimit::Limit(5),
        max_retries: 0,
        retry_growth: vec![],
        template: None,
    }
}

fn step(name: &str, n: u64, deps: &[(&str, bool)]) -> StepDef {
    StepDef {
        name: name.into(),
        name_span: 0..1,
        first_id: None,
        sweep: Sweep {
            axes: vec![("i".into(), n)],
            zip: false,
        },
        deps: deps
            .iter()
            .map(|(s, all)| StepDep {
                step: s.to_string(),
                span: 0..1,
                all: *all,
            })
            .collect(),
        bodies: vec![(n, body(name))],
        entries: None,
    }
}

#[test]
fn a_million_element_wise_tasks_stay_two_groups() {
    let defs = Definitions {
        steps: vec![
            step("a", 1_000_000, &[]),
            step("b", 1_000_000, &[("a", false)]),
        ],
        ..Default::default()
    };
    let plan = build(&defs).unwrap();
    assert_eq!(plan.task_count(), 2_000_000);
    assert_eq!(plan.groups.len(), 2);
    assert_eq!(plan.groups[1].deps.offsets, vec![-1_000_000]);
    assert_eq!(plan.summary.dag_depth, 2);
}

#[test]
fn step_cycles_and_self_dependencies_show_the_chain() {
    let defs = Definitions {
        steps: vec![
            step("a", 2, &[("c", false)]),
            step("b", 2, &[("a", false)]),
            step("c", 2, &[("b", true)]),
        ],
        ..Default::default()
    };
    let e = build(&defs).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Cycle);
    assert_eq!(
        e.message,
        "Step `a` is part of dependency cycle: a -> c -> b -> a"
    );
    let defs = Definitions {
        tasks: vec![TaskDef {
            id: Some((4, 0..1)),
            span: 0..1,
            deps: vec![(4, 2..3)],
            body: body("x"),
        }],
        ..Default::default()
    };
    assert_eq!(
        build(&defs).unwrap_err().message,
        "Task 4 is part of dependency cycle: 4 -> 4"
    );
}

#[test]
fn step_ids_follow_the_tasks_and_may_not_overlap() {
    let defs = Definitions {
        tasks: vec![TaskDef {
            id: Some((10, 0..1)),
            span: 0..1,
            deps: vec![],
            body: body("x"),
        }],
        steps: vec![step("a", 5, &[])],
        ..Default::default()
    };
    let plan = build(&defs).unwrap();
    assert_eq!(plan.groups[1].ids.to_string(), "11-15");
    let mut defs = defs;
    defs.steps[0].first_id = Some((8, 5..6));
    let e = build(&defs).unwrap_err();
    assert_eq!((e.kind, e.span.clone()), (ErrorKind::Duplicate, Some(5..6)));
}

#[test]
fn unknown_steps_suggest_a_name() {
    let defs = Definitions {
        steps: vec![step("prepare", 1, &[]), step("b", 1, &[("prepar", false)])],
        ..Default::default()
    };
    let e = build(&defs).unwrap_err();
    assert_eq!(e.help.as_deref(), Some("did you mean `prepare`?"));
}

#[test]
fn a_job_without_tasks_is_refused() {
    let err = build(&Definitions::default()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert_eq!(
        err.message,
        "Submitted job must have at least a single task"
    );
    let empty_step = Definitions {
        steps: vec![step("a", 0, &[])],
        ..Default::default()
    };
    assert_eq!(build(&empty_step).unwrap_err().message, err.message);
}
