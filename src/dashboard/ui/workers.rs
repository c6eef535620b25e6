//! The worker list, one worker (hardware use over time, its tasks), and the timeline.

use super::*;
use crate::common::hwsummary::{human_rate, human_size};
use ratatui::widgets::{Cell, Row, Sparkline};

pub fn worker_list(f: &mut Frame, area: Rect, app: &App, data: &DashboardData) {
    let workers = app.visible_workers(data);
    let rows: Vec<Row> = workers
        .iter()
        .map(|w| {
            let sample = w.overview.as_ref().map(crate::common::hwsummary::sample);
            let pct = |v: Option<f32>| v.map(|p| format!("{p:.0}%")).unwrap_or_else(|| "-".into());
            let state = crate::cli::worker_state_word(w.state);
            Row::new::<Vec<Cell>>(vec![
                w.id.to_string().into(),
                w.hostname.clone().into(),
                Span::styled(state, state_style(state)).into(),
                w.running_tasks.to_string().into(),
                pct(sample.as_ref().map(|s| s.cpu_percent)).into(),
                pct(sample.as_ref().map(|s| s.mem_percent)).into(),
                pct(sample.as_ref().and_then(|s| s.gpu_percent)).into(),
                w.resources.clone().into(),
            ])
        })
        .collect();
    let widths = [
        Constraint::Length(5),
        Constraint::Length(16),
        Constraint::Length(16),
        Constraint::Length(6),
        Constraint::Length(5),
        Constraint::Length(5),
        Constraint::Length(5),
        Constraint::Min(10),
    ];
    let title = if workers.is_empty() {
        " Workers: none (start one with `hq worker start`) ".to_string()
    } else {
        format!(" Workers: {} ", workers.len())
    };
    selectable_table(
        f,
        area,
        rows,
        &widths,
        &[
            "ID",
            "Host",
            "State",
            "Tasks",
            "CPU",
            "Mem",
            "GPU",
            "Resources",
        ],
        title,
        app.worker_row,
    );
}

pub fn worker(f: &mut Frame, area: Rect, app: &App, data: &DashboardData, id: WorkerId) {
    let Some(w) = data.workers.get(&id) else {
        let p = Paragraph::new(format!("Worker {id} is not on the server (anymore)."))
            .block(Block::bordered());
        f.render_widget(p, area);
        return;
    };
    let detail = data.worker_detail.as_ref().filter(|d| d.id == id);
    let [info, charts, tasks] = Layout::vertical([
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Min(0),
    ])
    .areas(area);
    let mut lines = vec![
        Line::from(format!(
            "State: {}   Group: {}   Started {} ago{}",
            crate::cli::worker_state_word(w.state),
            w.group,
            span_ms(Some(data.now.saturating_sub(w.started_at))),
            w.ended_at
                .map(|e| format!(", ended {} ago", span_ms(Some(data.now.saturating_sub(e)))))
                .unwrap_or_default()
        )),
        Line::from(format!("Resources: {}", w.resources)),
        Line::from(format!(
            "Allocation: {}   Work dir: {}",
            detail
                .and_then(|d| d.allocation.clone())
                .unwrap_or_else(|| "none (started by hand)".into()),
            detail.map(|d| d.work_dir.as_str()).unwrap_or("")
        )),
    ];
    match &w.overview {
        Some(o) => {
            let m = &o.memory_usage;
            lines.push(Line::from(format!(
                "Memory: {} used of {}   Network: rx {} tx {}   Disk: read {} write {}",
                human_size(m.total.saturating_sub(m.free)),
                human_size(m.total),
                human_rate(o.rates.net_rx_bytes_per_s),
                human_rate(o.rates.net_tx_bytes_per_s),
                human_rate(o.rates.disk_read_bytes_per_s),
                human_rate(o.rates.disk_write_bytes_per_s),
            )));
            let cores: Vec<String> = o
                .cpu_usage
                .cpu_per_core_percent_usage
                .iter()
                .map(|c| format!("{c:.0}"))
                .collect();
            lines.push(Line::from(format!("CPU per core (%): {}", cores.join(" "))));
            for (family, gpus) in [("NVIDIA", &o.nvidia_gpus), ("AMD", &o.amd_gpus)] {
                for g in gpus.iter().flat_map(|g| &g.gpus) {
                    lines.push(Line::from(format!(
                        "{family} GPU {}: {:.0}% busy, memory {:.0}%",
                        g.id, g.processor_usage, g.mem_usage
                    )));
                }
            }
            if let Some(note) = &o.gpu_note {
                lines.push(Line::from(format!("GPUs: {note}")));
            }
        }
        None => lines.push(Line::from(
            "No hardware reports (start the worker with `--overview-interval 2s`).",
        )),
    }
    f.render_widget(
        Paragraph::new(lines)
            .block(Block::bordered().title(format!(" Worker {id} ({}) ", w.hostname))),
        info,
    );
    history(f, charts, detail);
    worker_tasks(f, tasks, app, detail);
}

fn history(f: &mut Frame, area: Rect, detail: Option<&DashWorkerDetail>) {
    let samples = detail.map(|d| d.history.as_slice()).unwrap_or(&[]);
    let [cpu, mem] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area);
    let width = cpu.width.saturating_sub(2) as usize;
    let tail = &samples[samples.len().saturating_sub(width)..];
    let series = |pick: fn(&HwSample) -> f32| -> Vec<u64> {
        tail.iter().map(|s| pick(s).round() as u64).collect()
    };
    let last = |pick: fn(&HwSample) -> f32| {
        tail.last()
            .map(|s| format!(" {:.0}%", pick(s)))
            .unwrap_or_default()
    };
    let cpu_data = series(|s| s.cpu_percent);
    let mem_data = series(|s| s.mem_percent);
    f.render_widget(
        Sparkline::default()
            .data(&cpu_data)
            .max(100)
            .style(Style::new().fg(Color::Cyan))
            .block(Block::bordered().title(format!(" CPU over time{} ", last(|s| s.cpu_percent)))),
        cpu,
    );
    f.render_widget(
        Sparkline::default()
            .data(&mem_data)
            .max(100)
            .style(Style::new().fg(Color::Yellow))
            .block(
                Block::bordered().title(format!(" Memory over time{} ", last(|s| s.mem_percent))),
            ),
        mem,
    );
}

fn worker_tasks(f: &mut Frame, area: Rect, app: &App, detail: Option<&DashWorkerDetail>) {
    let tasks = detail.map(|d| d.tasks.as_slice()).unwrap_or(&[]);
    let rows: Vec<Row> = tasks
        .iter()
        .map(|(job, task, _)| Row::new([job.to_string(), task.to_string()]))
        .collect();
    selectable_table(
        f,
        area,
        rows,
        &[Constraint::Length(8), Constraint::Min(8)],
        &["Job", "Task"],
        format!(" Running tasks: {} (Enter opens the job) ", tasks.len()),
        app.worker_task_row,
    );
}

pub fn timeline(f: &mut Frame, area: Rect, data: &DashboardData) {
    let height = area.height.saturating_sub(2) as usize;
    let entries: Vec<Line> = data
        .timeline
        .iter()
        .rev()
        .take(height)
        .map(|e| {
            Line::from(format!(
                "{:>10} ago  {}",
                span_ms(Some(data.now.saturating_sub(e.time))),
                e.text
            ))
        })
        .collect();
    let title = match &data.journal {
        Some(j) if data.replayed => format!(" Timeline of the journal {j} (newest first) "),
        _ => " Timeline since the dashboard started (newest first) ".into(),
    };
    let body = if entries.is_empty() {
        Paragraph::new("Nothing happened yet.")
    } else {
        Paragraph::new(entries)
    };
    f.render_widget(body.block(Block::bordered().title(title)), area);
}
