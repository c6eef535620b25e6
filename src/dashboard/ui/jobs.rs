//! The overview, the job list, one job with its tasks, and a task's output.

use super::*;
use ratatui::widgets::{Cell, Row};

const EMPTY_HELP: &str = "\
The server has no workers and no jobs yet.

Start a worker (on this node, or inside a Slurm/PBS allocation):
    hq worker start &

Submit a job, and watch it here:
    hq submit --array 1-10 -- sh -c 'echo task $HQ_TASK_ID; sleep 1'

Or let HyperQueue submit allocations for you:  hq alloc add slurm --time-limit 1h

Press ? for the keys, q to quit.";

pub fn overview(f: &mut Frame, area: Rect, app: &App, data: &DashboardData) {
    if data.workers.is_empty() && data.jobs.is_empty() {
        let p = Paragraph::new(EMPTY_HELP).block(Block::bordered().title(" Welcome "));
        f.render_widget(p, area);
        return;
    }
    let [top, rest] = Layout::vertical([Constraint::Length(7), Constraint::Min(0)]).areas(area);
    let [cluster, tasks] =
        Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(top);
    let states: Vec<String> = data
        .worker_states()
        .iter()
        .map(|(s, n)| format!("{n} {}", crate::server::worker_state_reason(*s)))
        .collect();
    let mut lines = vec![Line::from(format!(
        "Workers: {}",
        if states.is_empty() {
            "none".to_string()
        } else {
            states.join(", ")
        }
    ))];
    let width = (cluster.width as usize).saturating_sub(20).clamp(5, 40);
    match data.cluster_use() {
        Some((cpu, mem, gpu)) => {
            lines.push(percent_line("CPU", cpu, width));
            lines.push(percent_line("Memory", mem, width));
            lines.push(match gpu {
                Some(g) => percent_line("GPU", g, width),
                None => Line::from("GPU     no GPUs reported"),
            });
        }
        None => lines.push(Line::from(
            "No hardware reports: start workers with `--overview-interval 2s`",
        )),
    }
    if let Some(line) = allocations_line(data) {
        lines.push(line);
    }
    f.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" Cluster ")),
        cluster,
    );
    let t = &data.totals;
    let count = |label: &str, n: u32| Line::from(format!("{label:<10}{n:>10}"));
    let task_lines = vec![
        count("waiting", t.waiting),
        count("running", t.running),
        count("finished", t.finished),
        count("failed", t.failed + t.aborted),
        count("canceled", t.canceled),
    ];
    f.render_widget(
        Paragraph::new(task_lines).block(Block::bordered().title(" Tasks ")),
        tasks,
    );
    job_table(f, rest, app, data, " Jobs (newest first; Enter opens) ");
}

/// `Allocations: 2 queues (1 paused), 1 queued, 3 running`, when queues exist.
fn allocations_line(data: &DashboardData) -> Option<Line<'static>> {
    if data.queues.is_empty() {
        return None;
    }
    let paused = data
        .queues
        .iter()
        .filter(|q| q.state != crate::autoalloc::info::QueueState::Active)
        .count();
    let queued: u32 = data.queues.iter().map(|q| q.queued).sum();
    let running: u32 = data.queues.iter().map(|q| q.running).sum();
    let n = data.queues.len();
    Some(Line::from(format!(
        "Allocations: {n} queue{}{}, {queued} queued, {running} running",
        if n == 1 { "" } else { "s" },
        if paused > 0 {
            format!(" ({paused} paused)")
        } else {
            String::new()
        }
    )))
}

pub fn job_list(f: &mut Frame, area: Rect, app: &App, data: &DashboardData) {
    let shown = data.jobs.len() as u32;
    let title = if data.job_count > shown {
        format!(" Jobs: newest {shown} of {} ", data.job_count)
    } else {
        format!(" Jobs: {} ", data.job_count)
    };
    job_table(f, area, app, data, &title);
}

fn job_table(f: &mut Frame, area: Rect, app: &App, data: &DashboardData, title: &str) {
    let jobs = app.visible_jobs(data);
    let rows: Vec<Row> = jobs
        .iter()
        .map(|j| {
            let s = &j.stats;
            let word = job_state_word(j);
            let total = s.total().max(1) as f64;
            Row::new::<Vec<Cell>>(vec![
                if j.is_open {
                    format!("*{}", j.id)
                } else {
                    j.id.to_string()
                }
                .into(),
                j.name.clone().into(),
                Span::styled(word, state_style(word)).into(),
                format!(
                    "{} {:>3.0}%",
                    bar(s.completed() as f64 / total, 12),
                    s.completed() as f64 / total * 100.0
                )
                .into(),
                format!("{}/{}", s.completed(), s.total()).into(),
                (s.failed + s.aborted).to_string().into(),
                data.throughput(j.id)
                    .map(|r| format!("{r:.1}/s"))
                    .unwrap_or_else(|| "-".into())
                    .into(),
                data.eta_secs(j.id)
                    .map(|e| span_ms(Some(e * 1000)))
                    .unwrap_or_else(|| "-".into())
                    .into(),
            ])
        })
        .collect();
    let widths = [
        Constraint::Length(6),
        Constraint::Min(10),
        Constraint::Length(9),
        Constraint::Length(17),
        Constraint::Length(13),
        Constraint::Length(6),
        Constraint::Length(9),
        Constraint::Length(9),
    ];
    selectable_table(
        f,
        area,
        rows,
        &widths,
        &[
            "ID",
            "Name",
            "State",
            "Progress",
            "Done/Total",
            "Failed",
            "Rate",
            "ETA",
        ],
        title.to_string(),
        app.job_row,
    );
}

pub fn job(f: &mut Frame, area: Rect, app: &App, data: &DashboardData, id: JobId) {
    let Some(j) = data.jobs.get(&id) else {
        let p = Paragraph::new(format!("Job {id} is not on the server (anymore)."))
            .block(Block::bordered());
        f.render_widget(p, area);
        return;
    };
    let detail = data.job_detail.as_ref().filter(|d| d.id == id);
    let reasons = detail.map_or(0, |d| d.wait_reasons.len()) as u16;
    let [info, tasks] = Layout::vertical([
        Constraint::Length(8 + reasons.max(1) + u16::from(j.cancel_reason.is_some())),
        Constraint::Min(0),
    ])
    .areas(area);
    let s = &j.stats;
    let word = job_state_word(j);
    let total = s.total().max(1) as f64;
    let mut lines = vec![
        Line::from(vec![
            Span::raw(format!("{} ", bar(s.completed() as f64 / total, 30))),
            Span::styled(word, state_style(word)),
            Span::raw(format!("  {}/{} done", s.completed(), s.total())),
        ]),
        Line::from(format!(
            "{} waiting, {} running, {} finished, {} failed, {} canceled, {} aborted",
            s.waiting, s.running, s.finished, s.failed, s.canceled, s.aborted
        )),
        Line::from(format!(
            "Rate: {}   ETA: {}   Makespan: {}",
            data.throughput(id)
                .map(|r| format!("{r:.1} tasks/s"))
                .unwrap_or_else(|| "-".into()),
            data.eta_secs(id)
                .map(|e| span_ms(Some(e * 1000)))
                .unwrap_or_else(|| "-".into()),
            span_ms(Some(
                j.completed_at
                    .unwrap_or(data.now)
                    .saturating_sub(j.submitted_at)
            ))
        )),
    ];
    if let Some(d) = detail {
        lines.push(Line::from(format!("Resources: {}", d.resources.join("; "))));
        lines.push(Line::from(format!("Command: {}", d.command)));
        lines.push(Line::from(format!("Directory: {}", d.submit_dir)));
        if d.wait_reasons.is_empty() {
            lines.push(Line::from("Waiting: nothing"));
        }
        for r in &d.wait_reasons {
            lines.push(Line::from(vec![
                Span::styled("Waiting: ", Style::new().fg(Color::Yellow)),
                Span::raw(r.clone()),
            ]));
        }
    }
    if let Some(reason) = &j.cancel_reason {
        lines.push(Line::from(format!("Cancel reason: {reason}")));
    }
    let title = format!(" Job {id} `{}` ", j.name);
    f.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(title)),
        info,
    );
    task_table(f, tasks, app, data);
}

fn task_table(f: &mut Frame, area: Rect, app: &App, data: &DashboardData) {
    let rows_data = app.visible_tasks(data);
    let rows: Vec<Row> = rows_data
        .iter()
        .map(|t| {
            let word = task_state_word(t.status);
            let style = state_style(&word);
            let time = match (t.started_at, t.finished_at) {
                (Some(s), Some(e)) => span_ms(Some(e.saturating_sub(s))),
                (Some(s), None) => span_ms(Some(data.now.saturating_sub(s))),
                _ => "-".into(),
            };
            Row::new::<Vec<Cell>>(vec![
                t.id.to_string().into(),
                Span::styled(word, style).into(),
                t.worker
                    .as_ref()
                    .map(|(id, host)| format!("{id} ({host})"))
                    .unwrap_or_else(|| "-".into())
                    .into(),
                time.into(),
                format!("{}/{}", t.retries, t.crash_count).into(),
                t.error
                    .clone()
                    .unwrap_or_default()
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string()
                    .into(),
            ])
        })
        .collect();
    let title = match &data.tasks {
        Some(p) if !p.rows.is_empty() => format!(
            " Tasks {}-{} of {}{} ",
            p.offset + 1,
            p.offset as usize + p.rows.len(),
            p.total,
            p.filter
                .map(|s| format!(" {}", task_state_word(s).to_lowercase()))
                .unwrap_or_default()
        ),
        Some(p) => format!(
            " No tasks{} ",
            p.filter
                .map(|s| format!(" {}", task_state_word(s).to_lowercase()))
                .unwrap_or_default()
        ),
        None => " Tasks ".into(),
    };
    let widths = [
        Constraint::Length(8),
        Constraint::Length(9),
        Constraint::Length(20),
        Constraint::Length(10),
        Constraint::Length(13),
        Constraint::Min(10),
    ];
    selectable_table(
        f,
        area,
        rows,
        &widths,
        &["Task", "State", "Worker", "Time", "Retry/Crash", "Error"],
        title,
        app.task_row,
    );
}

/// Where a channel's output is, in words.
pub fn output_source(o: &TaskOutput) -> String {
    match o {
        TaskOutput::None => "discarded (`none`)".into(),
        TaskOutput::File(p) => p.clone(),
        TaskOutput::Stream(d) => format!("stream directory {d}"),
    }
}

pub fn output(
    f: &mut Frame,
    area: Rect,
    app: &App,
    data: &DashboardData,
    job: JobId,
    task: TaskId,
) {
    let Some((row, stderr)) = app.output_task(data) else {
        let p = Paragraph::new(format!(
            "Task {task} of job {job} is not on the loaded page."
        ))
        .block(Block::bordered());
        f.render_widget(p, area);
        return;
    };
    let (channel, source) = if stderr {
        ("stderr", &row.stderr)
    } else {
        ("stdout", &row.stdout)
    };
    let title = format!(
        " Job {job}, task {task} ({}): {channel} — {} ",
        task_state_word(row.status),
        output_source(source)
    );
    let inner_height = area.height.saturating_sub(2) as usize;
    let lines: Vec<&str> = app.output.lines().collect();
    let tail = lines[lines.len().saturating_sub(inner_height)..].join("\n");
    let mut text = tail;
    if let Some(err) = row.error.as_ref().filter(|_| !stderr) {
        if text.is_empty() {
            text = format!("(no output)\n\nError: {err}");
        }
    }
    f.render_widget(
        Paragraph::new(text).block(Block::bordered().title(title)),
        area,
    );
}
