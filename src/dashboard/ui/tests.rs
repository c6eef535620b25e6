//! Each screen rendered from a fixed model, compared with insta snapshots; and navigation.

use super::super::app::{Action, App, Popup, Screen};
use super::super::data::tests::{snapshot, T0};
use super::super::data::DashboardData;
use super::render_text;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

fn model() -> DashboardData {
    let mut d = DashboardData::default();
    d.apply(snapshot());
    d
}

fn screen(s: Screen) -> String {
    render_text(&App::new(s), &model(), 100, 30)
}

fn key(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

#[test]
fn overview_screen() {
    insta::assert_snapshot!("overview", screen(Screen::Overview));
}

#[test]
fn empty_server_explains_what_to_do() {
    let mut d = DashboardData::default();
    let mut s = snapshot();
    s.workers.clear();
    s.jobs.clear();
    s.tasks = None;
    d.apply(s);
    insta::assert_snapshot!("empty", render_text(&App::default(), &d, 100, 20));
}

#[test]
fn jobs_screen() {
    insta::assert_snapshot!("jobs", screen(Screen::Jobs));
}

#[test]
fn job_screen() {
    insta::assert_snapshot!("job", screen(Screen::Job(1)));
}

#[test]
fn output_screen() {
    let mut app = App::new(Screen::Output {
        job: 1,
        task: 1,
        stderr: true,
    });
    app.output = "step 1\nstep 2\nerror: diverged at step 3\n".into();
    insta::assert_snapshot!("output", render_text(&app, &model(), 100, 12));
}

#[test]
fn workers_screen() {
    insta::assert_snapshot!("workers", screen(Screen::Workers));
}

#[test]
fn worker_screen() {
    insta::assert_snapshot!("worker", screen(Screen::Worker(1)));
}

#[test]
fn timeline_screen() {
    let mut d = model();
    let mut u = snapshot();
    u.full = false;
    u.now = T0 + 65_000;
    u.workers = vec![super::super::data::tests::worker(
        2,
        "cn2",
        crate::protocol::messages::WorkerState::ConnectionLost,
        0.0,
    )];
    u.jobs.clear();
    d.apply(u);
    insta::assert_snapshot!(
        "timeline",
        render_text(&App::new(Screen::Timeline), &d, 100, 10)
    );
}

#[test]
fn allocation_queues_screen() {
    insta::assert_snapshot!("queues", screen(Screen::Queues));
}

#[test]
fn paused_queue_shows_its_last_error() {
    let mut app = App::new(Screen::Queues);
    app.on_key(key(KeyCode::Down), &model());
    let text = render_text(&app, &model(), 100, 30);
    assert!(text.contains("Exit code: 3"), "{text}");
    assert!(text.contains("qsub: Unknown queue qgpu"), "{text}");
    assert!(text.contains("hq alloc resume 2"), "{text}");
}

#[test]
fn allocation_queue_screen() {
    insta::assert_snapshot!("queue", screen(Screen::Queue(1)));
}

#[test]
fn no_queues_explains_how_to_add_one() {
    let mut d = DashboardData::default();
    let mut s = snapshot();
    s.queues = Some(vec![]);
    s.queue_detail = None;
    d.apply(s);
    insta::assert_snapshot!(
        "queues_empty",
        render_text(&App::new(Screen::Queues), &d, 100, 16)
    );
}

#[test]
fn navigation_into_a_queue_and_back() {
    let d = model();
    let mut app = App::default();
    assert_eq!(app.on_key(key(KeyCode::Char('5')), &d), Action::ViewChanged);
    assert_eq!(app.screen(), &Screen::Queues);
    assert_eq!(app.on_key(key(KeyCode::Char('j')), &d), Action::None);
    assert_eq!(app.queue_row, 1);
    app.on_key(key(KeyCode::Up), &d);
    assert_eq!(app.on_key(key(KeyCode::Enter), &d), Action::ViewChanged);
    assert_eq!(app.screen(), &Screen::Queue(1));
    assert_eq!(app.view().queue, Some(1));
    app.on_key(key(KeyCode::Down), &d);
    app.on_key(key(KeyCode::Down), &d);
    app.on_key(key(KeyCode::Down), &d);
    assert_eq!(app.allocation_row, 2, "three allocations");
    assert_eq!(app.on_key(key(KeyCode::Esc), &d), Action::ViewChanged);
    assert_eq!(app.screen(), &Screen::Queues);
    assert_eq!(app.view().queue, None);
    app.on_key(key(KeyCode::Enter), &d);
    assert_eq!(app.on_key(key(KeyCode::Char('q')), &d), Action::Quit);
}

#[test]
fn help_popup() {
    let mut app = App::default();
    let d = model();
    assert_eq!(app.on_key(key(KeyCode::Char('?')), &d), Action::None);
    assert_eq!(app.popup, Some(Popup::Help));
    insta::assert_snapshot!("help", render_text(&app, &d, 100, 30));
}

#[test]
fn navigation_into_a_job_and_a_task_output_and_back() {
    let d = model();
    let mut app = App::new(Screen::Jobs);
    // Newest first: job 2, then job 1.
    assert_eq!(app.on_key(key(KeyCode::Down), &d), Action::None);
    assert_eq!(app.on_key(key(KeyCode::Enter), &d), Action::ViewChanged);
    assert_eq!(app.screen(), &Screen::Job(1));
    assert_eq!(app.view().job, Some(1));
    app.on_key(key(KeyCode::Char('j')), &d);
    assert_eq!(app.on_key(key(KeyCode::Enter), &d), Action::ViewChanged);
    assert_eq!(
        app.screen(),
        &Screen::Output {
            job: 1,
            task: 1,
            stderr: false
        }
    );
    app.on_key(key(KeyCode::Char('e')), &d);
    assert!(matches!(app.screen(), Screen::Output { stderr: true, .. }));
    app.on_key(key(KeyCode::Esc), &d);
    app.on_key(key(KeyCode::Backspace), &d);
    assert_eq!(app.screen(), &Screen::Jobs);
    app.on_key(key(KeyCode::Char('3')), &d);
    assert_eq!(app.screen(), &Screen::Workers);
    app.on_key(key(KeyCode::Enter), &d);
    assert_eq!(app.view().worker, Some(1));
}

#[test]
fn q_quits_from_popups_and_the_filter_line() {
    let d = model();
    let mut app = App::default();
    app.on_key(key(KeyCode::Char('c')), &d);
    assert_eq!(app.popup, Some(Popup::ConfirmCancel(2)));
    assert_eq!(app.on_key(key(KeyCode::Char('q')), &d), Action::Quit);
    let mut app = App::default();
    app.on_key(key(KeyCode::Char('/')), &d);
    assert!(app.editing_filter);
    assert_eq!(app.on_key(key(KeyCode::Char('q')), &d), Action::Quit);
}

#[test]
fn cancel_asks_first() {
    let d = model();
    let mut app = App::new(Screen::Job(1));
    app.on_key(key(KeyCode::Char('c')), &d);
    assert_eq!(app.on_key(key(KeyCode::Char('n')), &d), Action::None);
    assert_eq!(app.popup, None);
    app.on_key(key(KeyCode::Char('c')), &d);
    assert_eq!(
        app.on_key(key(KeyCode::Char('y')), &d),
        Action::CancelJob(1)
    );
}

#[test]
fn filter_narrows_the_job_list() {
    let d = model();
    let mut app = App::new(Screen::Jobs);
    app.on_key(key(KeyCode::Char('/')), &d);
    for c in "sim".chars() {
        app.on_key(key(KeyCode::Char(c)), &d);
    }
    app.on_key(key(KeyCode::Enter), &d);
    let names: Vec<&str> = app
        .visible_jobs(&d)
        .iter()
        .map(|j| j.name.as_str())
        .collect();
    assert_eq!(names, vec!["simulate"]);
    assert!(render_text(&app, &d, 100, 12).contains("[filter: sim]"));
}

#[test]
fn moving_past_the_page_asks_for_the_next_one() {
    let d = model();
    let mut app = App::new(Screen::Job(1));
    for _ in 0..3 {
        assert_eq!(app.on_key(key(KeyCode::Down), &d), Action::None);
    }
    // Row 4 of 100 is not on the loaded page (rows 0-3).
    assert_eq!(app.on_key(key(KeyCode::Down), &d), Action::ViewChanged);
    assert_eq!(app.view().task_offset, 0);
    assert_eq!(app.on_key(key(KeyCode::End), &d), Action::ViewChanged);
    assert_eq!((app.view().task_offset, app.task_row), (0, 99));
}
