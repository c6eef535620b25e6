//! What the user looks at and how keys move between screens: a stack of screens, a selection
//! per list, the `/` filter, pop-ups (help, cancel confirmation). Pure: keys in, actions out,
//! so navigation is tested without a terminal.

use super::data::DashboardData;
use crate::autoalloc::info::AllocationInfo;
use crate::autoalloc::QueueId;
use crate::protocol::messages::*;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Rows of a task page asked from the server.
pub const TASK_PAGE: u32 = 200;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Screen {
    Overview,
    Jobs,
    Job(JobId),
    /// The tail of a task's stdout (or stderr).
    Output {
        job: JobId,
        task: TaskId,
        stderr: bool,
    },
    Workers,
    Worker(WorkerId),
    Timeline,
    /// Allocation queues (`hq alloc`).
    Queues,
    /// One queue's allocations.
    Queue(QueueId),
}

/// The top-level screens, in tab order, with their keys.
pub const TABS: [(char, &str, Screen); 5] = [
    ('1', "Overview", Screen::Overview),
    ('2', "Jobs", Screen::Jobs),
    ('3', "Workers", Screen::Workers),
    ('4', "Timeline", Screen::Timeline),
    ('5', "Allocations", Screen::Queues),
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Popup {
    Help,
    ConfirmCancel(JobId),
    Message(String),
}

/// What the terminal loop must do after a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    None,
    Quit,
    /// The rows on screen changed: send the new [`DashboardView`].
    ViewChanged,
    CancelJob(JobId),
}

#[derive(Clone, Debug)]
pub struct App {
    /// Current screen last; never empty.
    pub stack: Vec<Screen>,
    pub job_row: usize,
    pub task_row: usize,
    pub worker_row: usize,
    pub worker_task_row: usize,
    pub queue_row: usize,
    pub allocation_row: usize,
    pub filter: String,
    pub editing_filter: bool,
    pub task_filter: Option<TaskStatus>,
    pub task_offset: u32,
    pub popup: Option<Popup>,
    /// Text of the output screen, filled by the terminal loop.
    pub output: String,
}

impl Default for App {
    fn default() -> Self {
        App::new(Screen::Overview)
    }
}

impl App {
    pub fn new(start: Screen) -> App {
        let mut stack = vec![Screen::Overview];
        match &start {
            Screen::Overview => {}
            Screen::Job(_) => stack.extend([Screen::Jobs, start]),
            Screen::Worker(_) => stack.extend([Screen::Workers, start]),
            Screen::Queue(_) => stack.extend([Screen::Queues, start]),
            other => stack.push(other.clone()),
        }
        App {
            stack,
            job_row: 0,
            task_row: 0,
            worker_row: 0,
            worker_task_row: 0,
            queue_row: 0,
            allocation_row: 0,
            filter: String::new(),
            editing_filter: false,
            task_filter: None,
            task_offset: 0,
            popup: None,
            output: String::new(),
        }
    }

    pub fn screen(&self) -> &Screen {
        self.stack.last().unwrap_or(&Screen::Overview)
    }

    /// What the server should send for this screen.
    pub fn view(&self) -> DashboardView {
        let mut v = DashboardView {
            task_limit: TASK_PAGE,
            ..Default::default()
        };
        match self.screen() {
            Screen::Job(id) | Screen::Output { job: id, .. } => {
                v.job = Some(*id);
                v.task_offset = self.task_offset;
                v.task_filter = self.task_filter;
            }
            Screen::Worker(id) => v.worker = Some(*id),
            Screen::Queue(id) => v.queue = Some(*id),
            _ => {}
        }
        v
    }

    /// Jobs of the job list after the `/` filter, newest first.
    pub fn visible_jobs<'a>(&self, data: &'a DashboardData) -> Vec<&'a DashJob> {
        let f = self.filter.to_lowercase();
        data.jobs
            .values()
            .rev()
            .filter(|j| f.is_empty() || j.name.to_lowercase().contains(&f) || j.id.to_string() == f)
            .collect()
    }

    pub fn visible_workers<'a>(&self, data: &'a DashboardData) -> Vec<&'a DashWorker> {
        let f = self.filter.to_lowercase();
        data.workers
            .values()
            .filter(|w| {
                f.is_empty() || w.hostname.to_lowercase().contains(&f) || w.id.to_string() == f
            })
            .collect()
    }

    /// Queues after the `/` filter (ID, manager or name).
    pub fn visible_queues<'a>(&self, data: &'a DashboardData) -> Vec<&'a DashQueue> {
        let f = self.filter.to_lowercase();
        data.queues
            .iter()
            .filter(|q| {
                f.is_empty()
                    || q.id.to_string() == f
                    || q.manager.display_name().to_lowercase().contains(&f)
                    || q.name
                        .as_ref()
                        .is_some_and(|n| n.to_lowercase().contains(&f))
            })
            .collect()
    }

    /// Loaded allocations of the queue on screen after the `/` filter (ID or state).
    pub fn visible_allocations<'a>(&self, data: &'a DashboardData) -> Vec<&'a AllocationInfo> {
        let f = self.filter.to_lowercase();
        let shown = match self.screen() {
            Screen::Queue(id) => data.queue_detail.as_ref().filter(|d| d.id == *id),
            _ => None,
        };
        shown
            .iter()
            .flat_map(|d| d.allocations.iter())
            .filter(|a| {
                f.is_empty()
                    || a.id.to_lowercase().contains(&f)
                    || crate::cli::alloc_status_word(a.status)
                        .to_lowercase()
                        .contains(&f)
            })
            .collect()
    }

    /// Rows of the loaded task page after the `/` filter (ID or worker host).
    pub fn visible_tasks<'a>(&self, data: &'a DashboardData) -> Vec<&'a DashTask> {
        let f = self.filter.to_lowercase();
        data.tasks
            .iter()
            .flat_map(|p| p.rows.iter())
            .filter(|t| {
                f.is_empty()
                    || t.id.to_string() == f
                    || t.worker.as_ref().is_some_and(|(_, h)| h.contains(&f))
            })
            .collect()
    }

    /// Handles one key. `q` quits from anywhere, also from pop-ups and the filter line.
    pub fn on_key(&mut self, key: KeyEvent, data: &DashboardData) -> Action {
        let ctrl_c =
            key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL);
        if key.code == KeyCode::Char('q') || ctrl_c {
            return Action::Quit;
        }
        if let Some(popup) = self.popup.clone() {
            return self.on_popup_key(popup, key);
        }
        if self.editing_filter {
            match key.code {
                KeyCode::Enter => self.editing_filter = false,
                KeyCode::Esc => {
                    self.editing_filter = false;
                    self.filter.clear();
                }
                KeyCode::Backspace => {
                    self.filter.pop();
                }
                KeyCode::Char(c) => self.filter.push(c),
                _ => {}
            }
            self.clamp_rows(data);
            return Action::None;
        }
        match key.code {
            KeyCode::Char('?') => self.popup = Some(Popup::Help),
            KeyCode::Char('/') => {
                self.editing_filter = true;
                self.filter.clear();
            }
            KeyCode::Up | KeyCode::Char('k') => return self.move_by(-1, data),
            KeyCode::Down | KeyCode::Char('j') => return self.move_by(1, data),
            KeyCode::PageUp => return self.move_by(-20, data),
            KeyCode::PageDown => return self.move_by(20, data),
            KeyCode::Home | KeyCode::Char('g') => return self.move_by(i64::MIN / 2, data),
            KeyCode::End | KeyCode::Char('G') => return self.move_by(i64::MAX / 2, data),
            KeyCode::Enter => return self.enter(data),
            KeyCode::Esc | KeyCode::Backspace => return self.back(),
            KeyCode::Tab => {
                let i = TABS.iter().position(|t| t.2 == self.tab()).unwrap_or(0);
                return self.switch_tab((i + 1) % TABS.len());
            }
            KeyCode::Char(c @ '1'..='5') => return self.switch_tab(c as usize - '1' as usize),
            KeyCode::Char('c') => {
                if let Some(id) = self.selected_job(data) {
                    self.popup = Some(Popup::ConfirmCancel(id));
                }
            }
            KeyCode::Char('f') if matches!(self.screen(), Screen::Job(_)) => {
                self.task_filter = next_filter(self.task_filter);
                self.task_offset = 0;
                self.task_row = 0;
                return Action::ViewChanged;
            }
            KeyCode::Char('o') | KeyCode::Char('e') => {
                if let Some(Screen::Output { stderr, .. }) = self.stack.last_mut() {
                    *stderr = key.code == KeyCode::Char('e');
                    return Action::ViewChanged;
                }
            }
            _ => {}
        }
        Action::None
    }

    fn on_popup_key(&mut self, popup: Popup, key: KeyEvent) -> Action {
        match (popup, key.code) {
            (Popup::ConfirmCancel(id), KeyCode::Char('y') | KeyCode::Char('Y')) => {
                self.popup = None;
                Action::CancelJob(id)
            }
            (Popup::ConfirmCancel(_), _) => {
                self.popup = None;
                Action::None
            }
            (_, KeyCode::Esc | KeyCode::Enter | KeyCode::Char('?') | KeyCode::Backspace) => {
                self.popup = None;
                Action::None
            }
            _ => Action::None,
        }
    }

    /// The top-level screen the current one belongs to.
    pub fn tab(&self) -> Screen {
        self.stack.get(1).cloned().unwrap_or(Screen::Overview)
    }

    fn switch_tab(&mut self, i: usize) -> Action {
        self.stack.truncate(1);
        if TABS[i].2 != Screen::Overview {
            self.stack.push(TABS[i].2.clone());
        }
        self.filter.clear();
        Action::ViewChanged
    }

    fn back(&mut self) -> Action {
        if !self.filter.is_empty() {
            self.filter.clear();
            return Action::None;
        }
        if self.stack.len() > 1 {
            self.stack.pop();
        }
        Action::ViewChanged
    }

    fn selected_job(&self, data: &DashboardData) -> Option<JobId> {
        match self.screen() {
            Screen::Job(id) => Some(*id),
            Screen::Overview | Screen::Jobs => {
                self.visible_jobs(data).get(self.job_row).map(|j| j.id)
            }
            _ => None,
        }
    }

    fn enter(&mut self, data: &DashboardData) -> Action {
        let next = match self.screen().clone() {
            Screen::Overview | Screen::Jobs => self.selected_job(data).map(Screen::Job),
            Screen::Job(job) => {
                self.visible_tasks(data)
                    .get(self.task_row)
                    .map(|t| Screen::Output {
                        job,
                        task: t.id,
                        stderr: false,
                    })
            }
            Screen::Workers => self
                .visible_workers(data)
                .get(self.worker_row)
                .map(|w| Screen::Worker(w.id)),
            Screen::Worker(_) => data
                .worker_detail
                .as_ref()
                .and_then(|d| d.tasks.get(self.worker_task_row))
                .map(|(job, _, _)| Screen::Job(*job)),
            Screen::Queues => self
                .visible_queues(data)
                .get(self.queue_row)
                .map(|q| Screen::Queue(q.id)),
            Screen::Output { .. } | Screen::Timeline | Screen::Queue(_) => None,
        };
        let Some(next) = next else {
            return Action::None;
        };
        match next {
            Screen::Job(_) => {
                self.task_row = 0;
                self.task_offset = 0;
                self.task_filter = None;
            }
            Screen::Queue(_) => self.allocation_row = 0,
            _ => {}
        }
        self.filter.clear();
        self.stack.push(next);
        Action::ViewChanged
    }

    fn move_by(&mut self, delta: i64, data: &DashboardData) -> Action {
        let step = |row: &mut usize, len: usize| {
            let max = len.saturating_sub(1) as i64;
            *row = (*row as i64 + delta).clamp(0, max.max(0)) as usize;
        };
        match self.screen().clone() {
            Screen::Overview | Screen::Jobs => {
                let n = self.visible_jobs(data).len();
                step(&mut self.job_row, n)
            }
            Screen::Workers => {
                let n = self.visible_workers(data).len();
                step(&mut self.worker_row, n)
            }
            Screen::Worker(_) => {
                let n = data.worker_detail.as_ref().map_or(0, |d| d.tasks.len());
                step(&mut self.worker_task_row, n)
            }
            Screen::Queues => {
                let n = self.visible_queues(data).len();
                step(&mut self.queue_row, n)
            }
            Screen::Queue(_) => {
                let n = self.visible_allocations(data).len();
                step(&mut self.allocation_row, n)
            }
            Screen::Job(_) => return self.move_task(delta, data),
            _ => {}
        }
        Action::None
    }

    /// Moves in the job's task list; past the loaded page, asks for the page around the row.
    fn move_task(&mut self, delta: i64, data: &DashboardData) -> Action {
        let Some(page) = &data.tasks else {
            return Action::None;
        };
        if !self.filter.is_empty() {
            let n = self.visible_tasks(data).len();
            self.task_row =
                (self.task_row as i64 + delta).clamp(0, n.saturating_sub(1) as i64) as usize;
            return Action::None;
        }
        // `task_row` indexes the loaded page; the absolute row is offset + task_row.
        let total = page.total as i64;
        let absolute =
            (page.offset as i64 + self.task_row as i64 + delta).clamp(0, (total - 1).max(0));
        let start = page.offset as i64;
        let end = start + page.rows.len() as i64;
        if absolute >= start && absolute < end {
            self.task_row = (absolute - start) as usize;
            return Action::None;
        }
        let offset = (absolute - TASK_PAGE as i64 / 2).max(0);
        self.task_offset = offset as u32;
        self.task_row = (absolute - offset) as usize;
        Action::ViewChanged
    }

    /// Keeps selections inside their lists after data or filters changed.
    pub fn clamp_rows(&mut self, data: &DashboardData) {
        let clamp = |row: &mut usize, len: usize| *row = (*row).min(len.saturating_sub(1));
        let (jobs, workers, tasks) = (
            self.visible_jobs(data).len(),
            self.visible_workers(data).len(),
            self.visible_tasks(data).len(),
        );
        clamp(&mut self.job_row, jobs);
        clamp(&mut self.worker_row, workers);
        // While a new page is on its way, the row refers to it.
        if data
            .tasks
            .as_ref()
            .is_some_and(|p| p.offset == self.task_offset)
        {
            clamp(&mut self.task_row, tasks);
        }
        let n = data.worker_detail.as_ref().map_or(0, |d| d.tasks.len());
        clamp(&mut self.worker_task_row, n);
        let (queues, allocations) = (
            self.visible_queues(data).len(),
            self.visible_allocations(data).len(),
        );
        clamp(&mut self.queue_row, queues);
        clamp(&mut self.allocation_row, allocations);
    }

    /// The task whose output is on screen, from the loaded page.
    pub fn output_task<'a>(&self, data: &'a DashboardData) -> Option<(&'a DashTask, bool)> {
        let Screen::Output { task, stderr, .. } = self.screen() else {
            return None;
        };
        let row = data.tasks.as_ref()?.rows.iter().find(|t| t.id == *task)?;
        Some((row, *stderr))
    }
}

fn next_filter(f: Option<TaskStatus>) -> Option<TaskStatus> {
    use TaskStatus::*;
    match f {
        None => Some(Waiting),
        Some(Waiting) => Some(Running),
        Some(Running) => Some(Finished),
        Some(Finished) => Some(Failed),
        Some(Failed) => Some(Canceled),
        Some(Canceled) => Some(Aborted),
        Some(Aborted) => None,
    }
}
