//! Rendering with ratatui: one function per screen over the [`App`] and the data model, plus
//! the frame around them (tabs, key hints, pop-ups). Also renders a frame to plain text, for
//! `hq dashboard --once` and the snapshot tests.

mod alloc;
mod jobs;
mod workers;

use super::app::{App, Popup, Screen, TABS};
use super::data::DashboardData;
use crate::common::duration::format_duration;
use crate::protocol::messages::*;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};
use ratatui::{Frame, Terminal};
use std::time::Duration;

/// Draws the whole screen.
pub fn draw(f: &mut Frame, app: &App, data: &DashboardData) {
    let [top, body, bottom] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(f.area());
    header(f, top, app, data);
    if !data.connected {
        let p = Paragraph::new("Connecting to the server...").block(Block::bordered());
        f.render_widget(p, body);
    } else {
        match app.screen().clone() {
            Screen::Overview => jobs::overview(f, body, app, data),
            Screen::Jobs => jobs::job_list(f, body, app, data),
            Screen::Job(id) => jobs::job(f, body, app, data, id),
            Screen::Output { job, task, .. } => jobs::output(f, body, app, data, job, task),
            Screen::Workers => workers::worker_list(f, body, app, data),
            Screen::Worker(id) => workers::worker(f, body, app, data, id),
            Screen::Timeline => workers::timeline(f, body, data),
            Screen::Queues => alloc::queue_list(f, body, app, data),
            Screen::Queue(id) => alloc::queue(f, body, app, data, id),
        }
    }
    footer(f, bottom, app);
    match &app.popup {
        Some(Popup::Help) => help(f),
        Some(Popup::ConfirmCancel(id)) => {
            let name = data.jobs.get(id).map(|j| j.name.as_str()).unwrap_or("");
            message(
                f,
                "Cancel job",
                &format!("Cancel job {id} `{name}`?\n\ny = cancel it, any other key = keep it"),
            )
        }
        Some(Popup::Message(text)) => message(f, "Note", text),
        None => {}
    }
}

fn header(f: &mut Frame, area: Rect, app: &App, data: &DashboardData) {
    let current = app.tab();
    let mut spans = vec![Span::styled(" HyperQueue ", Style::new().bold().reversed())];
    for (key, name, screen) in &TABS {
        let text = format!(" {key} {name} ");
        spans.push(if *screen == current {
            Span::styled(text, Style::new().bold().underlined())
        } else {
            Span::raw(text)
        });
    }
    if data.connected {
        let up = format_duration(Duration::from_millis(
            data.now.saturating_sub(data.server_started),
        ));
        spans.push(Span::raw(format!(" server {} up {up}", data.server_uid)));
    }
    f.render_widget(Line::from(spans), area);
}

fn footer(f: &mut Frame, area: Rect, app: &App) {
    let text = if app.editing_filter {
        format!(" filter: {}_   (Enter keep, Esc clear)", app.filter)
    } else {
        let mut hints = String::from(" q quit  ? help  ↑↓ move  Enter open  Esc back  / filter");
        match app.screen() {
            Screen::Overview | Screen::Jobs | Screen::Job(_) => hints.push_str("  c cancel job"),
            _ => {}
        }
        if matches!(app.screen(), Screen::Job(_)) {
            hints.push_str("  f state filter");
        }
        if matches!(app.screen(), Screen::Output { .. }) {
            hints.push_str("  o stdout  e stderr");
        }
        if !app.filter.is_empty() {
            hints.push_str(&format!("   [filter: {}]", app.filter));
        }
        hints
    };
    f.render_widget(Line::from(text).style(Style::new().reversed()), area);
}

/// Lines of the help pop-up (also in docs/dashboard.md).
pub const HELP: &[(&str, &str)] = &[
    ("q", "quit (from anywhere)"),
    (
        "1 2 3 4 5, Tab",
        "Overview, Jobs, Workers, Timeline, Allocations",
    ),
    ("↑ ↓ j k", "move the selection (PgUp PgDn g G: faster)"),
    (
        "Enter",
        "open: job → tasks → output; worker → its job; queue → allocations",
    ),
    ("Esc Backspace", "back (or clear the filter)"),
    ("/", "filter the list by name, host or ID"),
    ("f", "job screen: show tasks of one state"),
    ("o e", "output screen: stdout or stderr"),
    ("c", "cancel the selected job (asks first)"),
    ("?", "this help"),
];

fn help(f: &mut Frame) {
    let lines: Vec<Line> = HELP
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(format!("{k:>14}  "), Style::new().bold()),
                Span::raw(*what),
            ])
        })
        .collect();
    let area = centered(f.area(), 84, HELP.len() as u16 + 2);
    f.render_widget(Clear, area);
    f.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" Keys ")),
        area,
    );
}

fn message(f: &mut Frame, title: &str, text: &str) {
    let area = centered(f.area(), 60, text.lines().count() as u16 + 2);
    f.render_widget(Clear, area);
    let p = Paragraph::new(text.to_string())
        .wrap(Wrap { trim: false })
        .block(Block::bordered().title(format!(" {title} ")));
    f.render_widget(p, area);
}

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let [v] = Layout::vertical([Constraint::Length(height)])
        .flex(Flex::Center)
        .areas(area);
    let [h] = Layout::horizontal([Constraint::Length(width.min(area.width))])
        .flex(Flex::Center)
        .areas(v);
    h
}

/// `██████░░░░` of `width` cells for a fraction in 0..=1.
pub fn bar(fraction: f64, width: usize) -> String {
    let filled = ((fraction.clamp(0.0, 1.0) * width as f64).round() as usize).min(width);
    format!("{}{}", "█".repeat(filled), "░".repeat(width - filled))
}

/// A labelled percentage bar: `CPU  ████░░░░░░  40.0%`.
pub fn percent_line(label: &str, percent: f32, width: usize) -> Line<'static> {
    let color = if percent >= 90.0 {
        Color::Red
    } else if percent >= 60.0 {
        Color::Yellow
    } else {
        Color::Green
    };
    Line::from(vec![
        Span::raw(format!("{label:<8}")),
        Span::styled(bar(percent as f64 / 100.0, width), Style::new().fg(color)),
        Span::raw(format!(" {percent:5.1}%")),
    ])
}

/// The state word of a job, as `hq job list` shows it.
pub fn job_state_word(j: &DashJob) -> &'static str {
    crate::cli::output::job_status_word(j.stats.job_status(j.is_open))
}

/// `RUNNING`, `FAILED`, ...
pub fn task_state_word(s: TaskStatus) -> String {
    crate::cli::output::task_status_word(s).to_uppercase()
}

pub fn state_style(word: &str) -> Style {
    match word {
        "RUNNING" => Style::new().fg(Color::Cyan),
        "FINISHED" => Style::new().fg(Color::Green),
        "FAILED" | "ABORTED" => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        "CANCELED" => Style::new().fg(Color::Magenta),
        _ => Style::new(),
    }
}

/// A span of milliseconds as `1h 2m 3s`, or `-`.
pub fn span_ms(ms: Option<u64>) -> String {
    match ms {
        Some(ms) => format_duration(Duration::from_millis(ms / 1000 * 1000)),
        None => "-".into(),
    }
}

/// A bordered table with a bold header; the selected row is highlighted and kept in view.
pub fn selectable_table(
    f: &mut Frame,
    area: Rect,
    rows: Vec<ratatui::widgets::Row>,
    widths: &[Constraint],
    header: &[&str],
    title: String,
    selected: usize,
) {
    use ratatui::widgets::{Row, Table, TableState};
    let empty = rows.is_empty();
    let table = Table::new(rows, widths.to_vec())
        .header(Row::new(header.to_vec()).style(Style::new().bold()))
        .row_highlight_style(Style::new().reversed())
        .highlight_symbol("▶ ")
        .block(Block::bordered().title(title));
    let mut state = TableState::default().with_selected((!empty).then_some(selected));
    f.render_stateful_widget(table, area, &mut state);
}

/// The selection marker of a list row.
pub fn marker(selected: bool) -> &'static str {
    if selected {
        "▶"
    } else {
        " "
    }
}

/// Renders one frame into a plain-text grid (no colours), rows joined by newlines.
pub fn render_text(app: &App, data: &DashboardData, width: u16, height: u16) -> String {
    let mut terminal = match Terminal::new(TestBackend::new(width, height)) {
        Ok(t) => t,
        Err(e) => return format!("cannot render: {e}"),
    };
    if let Err(e) = terminal.draw(|f| draw(f, app, data)) {
        return format!("cannot render: {e}");
    }
    buffer_text(terminal.backend().buffer())
}

/// The symbols of a buffer, one line per row, trailing spaces cut.
pub fn buffer_text(buf: &Buffer) -> String {
    let width = buf.area.width as usize;
    let mut out = String::new();
    for row in buf.content.chunks(width.max(1)) {
        let mut line = String::new();
        for cell in row {
            line.push_str(cell.symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
