//! The allocation queues (`hq alloc`): the list with the selected queue's last decision and
//! last error, and one queue with its allocations.

use super::*;
use crate::autoalloc::info::{AllocationInfo, QueueState};
use crate::autoalloc::{AllocationEnd, QueueId};
use ratatui::widgets::{Cell, Row};

const EMPTY_HELP: &str = "\
There are no allocation queues: HyperQueue can submit Slurm or PBS jobs (allocations) that
start workers when tasks wait for them.

Add a queue (what follows `--` goes to sbatch or qsub):
    hq alloc add slurm --time-limit 1h -- -p PARTITION
    hq alloc add pbs --time-limit 1h -- -q QUEUE

Then submit tasks; this screen shows the queue's allocations, its last decision and why,
and the last failed submission. See also `hq alloc list` and `hq alloc info QUEUE`.";

pub fn queue_list(f: &mut Frame, area: Rect, app: &App, data: &DashboardData) {
    if data.queues.is_empty() {
        let title = " Allocation queues: none ";
        let p = Paragraph::new(EMPTY_HELP).block(Block::bordered().title(title));
        f.render_widget(p, area);
        return;
    }
    let queues = app.visible_queues(data);
    let rows: Vec<Row> = queues
        .iter()
        .map(|q| {
            let word = queue_state_word(q);
            Row::new::<Vec<Cell>>(vec![
                q.id.to_string().into(),
                q.manager.display_name().into(),
                Span::styled(word, state_style(word)).into(),
                q.backlog.to_string().into(),
                q.workers_per_alloc.to_string().into(),
                q.max_worker_count
                    .map_or_else(|| "-".into(), |n| n.to_string())
                    .into(),
                span_ms(Some(q.time_limit_secs * 1000)).into(),
                q.queued.to_string().into(),
                q.running.to_string().into(),
                name_and_args(q).into(),
            ])
        })
        .collect();
    let widths = [
        Constraint::Length(4),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(10),
        Constraint::Length(7),
        Constraint::Length(8),
        Constraint::Min(10),
    ];
    let selected = queues.get(app.queue_row).copied();
    let status = selected
        .map(|q| status_lines(q, data.now))
        .unwrap_or_default();
    let height = (wrapped_height(&status, area.width) + 2).min(area.height / 2);
    let [table, below] =
        Layout::vertical([Constraint::Min(4), Constraint::Length(height)]).areas(area);
    selectable_table(
        f,
        table,
        rows,
        &widths,
        &[
            "ID",
            "Manager",
            "State",
            "Backlog",
            "Workers",
            "Max wrk",
            "Time limit",
            "Queued",
            "Running",
            "Name / arguments",
        ],
        format!(" Allocation queues: {} (Enter opens) ", data.queues.len()),
        app.queue_row,
    );
    if let Some(q) = selected {
        let title = format!(" Queue {}: what it did last ", q.id);
        f.render_widget(
            Paragraph::new(status)
                .wrap(Wrap { trim: false })
                .block(Block::bordered().title(title)),
            below,
        );
    }
}

pub fn queue(f: &mut Frame, area: Rect, app: &App, data: &DashboardData, id: QueueId) {
    let Some(q) = data.queues.iter().find(|q| q.id == id) else {
        let p = Paragraph::new(format!(
            "Allocation queue {id} is not on the server (anymore)."
        ))
        .block(Block::bordered());
        f.render_widget(p, area);
        return;
    };
    let mut lines = vec![Line::from(format!(
        "{} queue, backlog {}, {} worker(s) per allocation, at most {} workers, time limit {}",
        q.manager.display_name(),
        q.backlog,
        q.workers_per_alloc,
        q.max_worker_count
            .map_or_else(|| "any number of".into(), |n| n.to_string()),
        span_ms(Some(q.time_limit_secs * 1000)),
    ))];
    lines.push(Line::from(format!("Arguments: {}", name_and_args(q))));
    lines.extend(status_lines(q, data.now));
    let height = (wrapped_height(&lines, area.width) + 2).min(area.height / 2);
    let [info, list] =
        Layout::vertical([Constraint::Length(height), Constraint::Min(0)]).areas(area);
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(format!(" Allocation queue {id} "))),
        info,
    );
    allocations(f, list, app, data, id);
}

fn allocations(f: &mut Frame, area: Rect, app: &App, data: &DashboardData, id: QueueId) {
    let detail = data.queue_detail.as_ref().filter(|d| d.id == id);
    let ago = |t: Option<u64>| match t {
        Some(t) => format!("{} ago", span_ms(Some(data.now.saturating_sub(t)))),
        None => "-".into(),
    };
    let rows: Vec<Row> = app
        .visible_allocations(data)
        .iter()
        .map(|a| {
            let word = crate::cli::alloc_status_word(a.status);
            Row::new::<Vec<Cell>>(vec![
                a.id.clone().into(),
                Span::styled(word, state_style(word)).into(),
                format!("{}/{}", a.connected_workers, a.target_worker_count).into(),
                ago(Some(a.queued_at)).into(),
                ago(a.started_at).into(),
                ago(a.ended_at).into(),
                end_text(a).into(),
            ])
        })
        .collect();
    let widths = [
        Constraint::Length(12),
        Constraint::Length(9),
        Constraint::Length(8),
        Constraint::Length(12),
        Constraint::Length(12),
        Constraint::Length(12),
        Constraint::Min(10),
    ];
    let title = match detail {
        Some(d) if d.total as usize > d.allocations.len() => {
            format!(
                " Allocations: newest {} of {} ",
                d.allocations.len(),
                d.total
            )
        }
        Some(d) if d.total == 0 => " Allocations: none submitted yet ".into(),
        Some(d) => format!(" Allocations: {} (newest first) ", d.total),
        None => " Allocations ".into(),
    };
    selectable_table(
        f,
        area,
        rows,
        &widths,
        &[
            "ID",
            "State",
            "Workers",
            "Queued",
            "Started",
            "Ended",
            "End reason / directory",
        ],
        title,
        app.allocation_row,
    );
}

/// Rows the lines take when wrapped inside a bordered block `width` cells wide.
fn wrapped_height(lines: &[Line], width: u16) -> u16 {
    let inner = width.saturating_sub(2).max(1) as usize;
    lines
        .iter()
        .map(|l| l.width().max(1).div_ceil(inner) as u16)
        .sum()
}

/// `ACTIVE` or `PAUSED`.
fn queue_state_word(q: &DashQueue) -> &'static str {
    match q.state {
        QueueState::Active => "ACTIVE",
        QueueState::Paused { .. } => "PAUSED",
    }
}

fn name_and_args(q: &DashQueue) -> String {
    let args = q.args.join(" ");
    match &q.name {
        Some(n) => format!("{n}: {args}"),
        None => args,
    }
}

/// Why an allocation ended, or where its files are while it is active.
fn end_text(a: &AllocationInfo) -> String {
    match &a.end {
        Some(AllocationEnd::Failed { reason, .. } | AllocationEnd::Cancelled { reason }) => {
            reason.clone()
        }
        Some(AllocationEnd::Finished) | None => a.workdir.clone(),
    }
}

/// The queue's state, last decision and last failed submission, in lines.
fn status_lines(q: &DashQueue, now: u64) -> Vec<Line<'static>> {
    let ago = |t: u64| span_ms(Some(now.saturating_sub(t)));
    let mut lines = vec![];
    if let QueueState::Paused { reason } = &q.state {
        let why = reason.as_deref().unwrap_or("paused by the user");
        lines.push(Line::from(vec![
            Span::styled("Paused: ", Style::new().bold()),
            Span::raw(why.to_string()),
        ]));
        lines.push(Line::from(format!(
            "  resume it with `hq alloc resume {}`",
            q.id
        )));
    }
    match &q.last_decision {
        Some(d) => {
            lines.push(Line::from(format!(
                "Last decision ({} ago): {}: {}",
                ago(d.at),
                d.action,
                d.reason
            )));
            for (n, why) in &d.unrunnable {
                lines.push(Line::from(format!(
                    "  {n} task(s) no worker of this queue could run: {why}"
                )));
            }
        }
        None => lines.push(Line::from("Last decision: none yet (no tasks waited)")),
    }
    if let Some(until) = q.rate_limited_until {
        lines.push(Line::from(format!(
            "Rate-limited: the next submission in {}",
            span_ms(Some(until.saturating_sub(now)))
        )));
    }
    match &q.last_failure {
        Some(fail) => {
            let text = fail.describe();
            let mut it = text.lines();
            let first = it.next().unwrap_or("");
            lines.push(Line::from(vec![
                Span::styled("Last error: ", Style::new().fg(Color::Red).bold()),
                Span::raw(first.to_string()),
            ]));
            lines.extend(it.map(|l| Line::from(format!("  {l}"))));
        }
        None => lines.push(Line::from("Last error: none")),
    }
    lines
}
