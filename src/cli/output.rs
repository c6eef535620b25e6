//! Output plumbing shared by commands: the output mode, ASCII tables, colours, log lines.

use crate::protocol::messages::{JobStatus, LogLine, TaskStatus};
use std::io::Write;

#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputMode {
    Cli,
    Json,
    Quiet,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorPolicy {
    Auto,
    Always,
    Never,
}

/// How a command prints: mode plus whether colours are on.
#[derive(Copy, Clone, Debug)]
pub struct Out {
    pub mode: OutputMode,
    pub colors: bool,
}

impl Out {
    pub fn json(&self, value: &serde_json::Value) {
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        );
    }

    pub fn paint(&self, text: &str, code: &str) -> String {
        if self.colors {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    pub fn bold(&self, text: &str) -> String {
        self.paint(text, "1")
    }

    pub fn task_status(&self, s: TaskStatus) -> String {
        let (word, code) = match s {
            TaskStatus::Waiting => ("WAITING", "36"),
            TaskStatus::Running => ("RUNNING", "33"),
            TaskStatus::Finished => ("FINISHED", "32"),
            TaskStatus::Failed => ("FAILED", "31"),
            TaskStatus::Canceled => ("CANCELED", "35"),
            TaskStatus::Aborted => ("ABORTED", "34"),
        };
        self.paint(word, code)
    }

    pub fn job_status(&self, s: JobStatus) -> String {
        let (word, code) = match s {
            JobStatus::Waiting => ("WAITING", "36"),
            JobStatus::Running => ("RUNNING", "33"),
            JobStatus::Finished => ("FINISHED", "32"),
            JobStatus::Failed => ("FAILED", "31"),
            JobStatus::Canceled => ("CANCELED", "35"),
            JobStatus::Aborted => ("ABORTED", "34"),
            JobStatus::Opened => ("OPENED", "36"),
        };
        self.paint(word, code)
    }
}

pub fn job_status_word(s: JobStatus) -> &'static str {
    match s {
        JobStatus::Waiting => "WAITING",
        JobStatus::Running => "RUNNING",
        JobStatus::Finished => "FINISHED",
        JobStatus::Failed => "FAILED",
        JobStatus::Canceled => "CANCELED",
        JobStatus::Aborted => "ABORTED",
        JobStatus::Opened => "OPENED",
    }
}

pub fn task_status_word(s: TaskStatus) -> &'static str {
    match s {
        TaskStatus::Waiting => "waiting",
        TaskStatus::Running => "running",
        TaskStatus::Finished => "finished",
        TaskStatus::Failed => "failed",
        TaskStatus::Canceled => "canceled",
        TaskStatus::Aborted => "aborted",
    }
}

fn visible_len(s: &str) -> usize {
    let mut len = 0;
    let mut in_escape = false;
    for c in s.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (true, _) => {}
            (false, _) => len += 1,
        }
    }
    len
}

/// Renders rows as an ASCII box table; cells may span several lines. With `header`, the first
/// row is followed by a separator.
pub fn render_table(rows: &[Vec<String>], header: bool) -> String {
    let cols = rows.iter().map(|r| r.len()).max().unwrap_or(0);
    let mut widths = vec![0; cols];
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            for line in cell.split('\n') {
                widths[i] = widths[i].max(visible_len(line));
            }
        }
    }
    let border: String = {
        let mut s = String::from("+");
        for w in &widths {
            s.push_str(&"-".repeat(w + 2));
            s.push('+');
        }
        s
    };
    let mut out = String::new();
    out.push_str(&border);
    out.push('\n');
    for (ri, row) in rows.iter().enumerate() {
        let height = row.iter().map(|c| c.split('\n').count()).max().unwrap_or(1);
        for line_no in 0..height {
            out.push('|');
            for (i, w) in widths.iter().enumerate() {
                let text = row
                    .get(i)
                    .and_then(|c| c.split('\n').nth(line_no))
                    .unwrap_or("");
                out.push(' ');
                out.push_str(text);
                out.push_str(&" ".repeat(w - visible_len(text) + 1));
                out.push('|');
            }
            out.push('\n');
        }
        if header && ri == 0 {
            out.push_str(&border);
            out.push('\n');
        }
    }
    out.push_str(&border);
    out
}

/// Prints a vertical key/value table with bold keys.
pub fn print_vertical(out: &Out, rows: Vec<(&str, String)>) {
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|(k, v)| vec![out.bold(k), v])
        .collect();
    println!("{}", render_table(&rows, false));
}

/// Prints a horizontal table with a bold header row.
pub fn print_horizontal(out: &Out, header: &[&str], rows: Vec<Vec<String>>) {
    let mut all = vec![header.iter().map(|h| out.bold(h)).collect::<Vec<_>>()];
    all.extend(rows);
    println!("{}", render_table(&all, true));
}

/// Emits the log lines a server command produced.
/// Logs IDs that were selected but do not exist: `Job 7 not found`, `Jobs 6-4294967295 not found`.
pub fn log_not_found(level: log::Level, what: &str, missing: &crate::common::idset::IdSet) {
    match missing.len() {
        0 => {}
        1 => log::log!(level, "{what} {missing} not found"),
        _ => log::log!(level, "{what}s {missing} not found"),
    }
}

pub fn print_log_lines(lines: &[LogLine]) {
    for line in lines {
        match line {
            LogLine::Info(m) => log::info!("{m}"),
            LogLine::Warn(m) => log::warn!("{m}"),
            LogLine::Error(m) => log::error!("{m}"),
        }
    }
}

/// Sets up logging to stderr as `<RFC 3339 timestamp> <LEVEL> <message>`.
pub fn init_logging(debug: bool) {
    let mut builder = env_logger::Builder::new();
    builder.filter_level(if debug {
        log::LevelFilter::Debug
    } else {
        log::LevelFilter::Info
    });
    builder.filter_module("mio", log::LevelFilter::Warn);
    if let Ok(spec) = std::env::var("RUST_LOG") {
        builder.parse_filters(&spec);
    }
    builder.format(move |buf, record| {
        let now = chrono::Utc::now();
        let ts = if debug {
            now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        } else {
            now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        };
        if debug {
            writeln!(
                buf,
                "{ts} {} {}: {}",
                record.level(),
                record.target(),
                record.args()
            )
        } else {
            writeln!(buf, "{ts} {} {}", record.level(), record.args())
        }
    });
    builder.target(env_logger::Target::Stderr);
    let _ = builder.try_init();
}

/// Formats epoch milliseconds as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn format_utc(ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(ms as i64)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

/// Formats epoch milliseconds as ISO 8601 UTC for JSON.
pub fn format_iso(ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(ms as i64)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// Formats epoch milliseconds as local `DD.MM.YYYY HH:MM:SS`.
pub fn format_local(ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(ms as i64)
        .map(|d| {
            d.with_timezone(&chrono::Local)
                .format("%d.%m.%Y %H:%M:%S")
                .to_string()
        })
        .unwrap_or_default()
}
