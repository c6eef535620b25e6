//! `hq journal export|flush|prune|replay|stream|report`.

use super::output::OutputMode;
use super::{connect, CliError, CliResult, GlobalOpts};
use crate::server::journal::JournalEvent;
use clap::Subcommand;
use std::io::Write;
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum JournalCommand {
    /// Print a journal file as JSON lines (no server needed)
    Export { journal: PathBuf },
    /// Make the server write its journal to disk now
    Flush,
    /// Make the server rewrite its journal without completed jobs and gone workers
    Prune,
    /// Print the server's past events as JSON lines, then exit
    Replay,
    /// Print the server's past events, then live events until the server stops
    Stream,
    /// Write an HTML report of a journal: counts, task durations, workers, a timeline
    Report {
        journal: PathBuf,
        output: PathBuf,
        /// Start of the window, as an offset from the journal's first event
        #[arg(long, value_parser = crate::common::duration::parse_duration)]
        start_time: Option<std::time::Duration>,
        /// End of the window, as an offset from the journal's first event
        #[arg(long, value_parser = crate::common::duration::parse_duration)]
        end_time: Option<std::time::Duration>,
    },
}

pub async fn run(g: &GlobalOpts, cmd: JournalCommand) -> CliResult {
    let out = g.out();
    let done = || {
        if out.mode == OutputMode::Json {
            out.json(&serde_json::json!({}));
        }
        Ok(())
    };
    match cmd {
        JournalCommand::Export { journal } => export(&journal),
        JournalCommand::Flush => {
            connect(g).await?.journal_flush().await?;
            done()
        }
        JournalCommand::Prune => {
            connect(g).await?.journal_prune().await?;
            done()
        }
        JournalCommand::Replay => events(g, false).await,
        JournalCommand::Stream => events(g, true).await,
        JournalCommand::Report {
            journal,
            output,
            start_time,
            end_time,
        } => {
            let replay = crate::journal::read_all::<JournalEvent>(&journal)
                .map_err(|e| CliError::Runtime(e.to_string()))?;
            let ms = |d: Option<std::time::Duration>| d.map(|d| d.as_millis() as u64);
            let data = super::journal_report::fold(&replay.events, ms(start_time), ms(end_time));
            let html = super::journal_report::render(&data, &journal.display().to_string());
            std::fs::write(&output, html).map_err(|e| {
                CliError::Runtime(format!("cannot write {}: {e}", output.display()))
            })?;
            log::info!("Report written to {}", output.display());
            Ok(())
        }
    }
}

async fn events(g: &GlobalOpts, live: bool) -> CliResult {
    let mut stdout = std::io::stdout();
    let print = |lines: Vec<String>| {
        for line in lines {
            let _ = writeln!(stdout, "{line}");
        }
        let _ = stdout.flush();
    };
    Ok(connect(g).await?.journal_events(live, print).await?)
}

fn export(path: &PathBuf) -> CliResult {
    let replay = crate::journal::read_all::<JournalEvent>(path)
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    for w in &replay.warnings {
        log::warn!("{w}");
    }
    let mut stdout = std::io::stdout().lock();
    for (time, event) in &replay.events {
        let line = crate::server::journal::event_line(*time, event);
        writeln!(stdout, "{line}").map_err(|e| CliError::Runtime(format!("cannot write: {e}")))?;
    }
    let _ = stdout.flush();
    log::info!("Outputted {} events", replay.events.len());
    Ok(())
}
