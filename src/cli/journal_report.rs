//! `hq journal report JOURNAL OUTPUT.html`: statistics of a recorded run as a static HTML page
//! (no scripts): counts, task durations, per-worker load and a timeline of running tasks.
//! The statistics are computed by a pure fold over the events, tested without files.

use crate::protocol::messages::{InstanceId, JobId, TaskId, WorkerId};
use crate::server::journal::JournalEvent;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

/// Everything the report shows.
#[derive(Debug, Default, PartialEq)]
pub struct ReportData {
    pub start_ms: u64,
    pub end_ms: u64,
    pub jobs: u64,
    pub started: u64,
    pub finished: u64,
    pub failed: u64,
    pub canceled_jobs: u64,
    pub workers: u64,
    /// Durations (ms) of executions that ended in the window.
    pub durations: Vec<u64>,
    /// Per worker: (executions, busy ms).
    pub per_worker: BTreeMap<WorkerId, (u64, u64)>,
    /// Running executions at the start of each of the timeline's buckets.
    pub timeline: Vec<u64>,
}

const BUCKETS: usize = 60;

/// Folds events (ms since the epoch) into report data, keeping those in `[from, to]` offsets
/// (ms) from the first event.
pub fn fold(events: &[(u64, JournalEvent)], from: Option<u64>, to: Option<u64>) -> ReportData {
    let first = events.first().map(|(t, _)| *t).unwrap_or(0);
    let lo = first + from.unwrap_or(0);
    let hi = to.map(|t| first + t).unwrap_or(u64::MAX);
    let mut d = ReportData {
        start_ms: lo,
        ..Default::default()
    };
    let mut running: HashMap<(JobId, TaskId), (InstanceId, u64, WorkerId)> = HashMap::new();
    let mut spans: Vec<(u64, u64)> = Vec::new();
    let mut last = lo;
    for (t, e) in events.iter().filter(|(t, _)| *t >= lo && *t <= hi) {
        last = *t;
        match e {
            JournalEvent::JobCreated { .. } | JournalEvent::JobOpen { .. } => d.jobs += 1,
            JournalEvent::JobCancel { .. } => d.canceled_jobs += 1,
            JournalEvent::WorkerConnected { .. } => d.workers += 1,
            JournalEvent::TaskStarted {
                job,
                task,
                instance,
                workers,
                ..
            } => {
                d.started += 1;
                running.insert(
                    (*job, *task),
                    (*instance, *t, workers.first().copied().unwrap_or(0)),
                );
            }
            JournalEvent::TaskFinished { job, task }
            | JournalEvent::TaskFailed { job, task, .. }
            | JournalEvent::TaskRetried { job, task, .. } => {
                if matches!(e, JournalEvent::TaskFinished { .. }) {
                    d.finished += 1;
                } else if matches!(e, JournalEvent::TaskFailed { .. }) {
                    d.failed += 1;
                }
                if let Some((_, start, worker)) = running.remove(&(*job, *task)) {
                    let ms = t.saturating_sub(start);
                    d.durations.push(ms);
                    let w = d.per_worker.entry(worker).or_default();
                    w.0 += 1;
                    w.1 += ms;
                    spans.push((start, *t));
                }
            }
            _ => {}
        }
    }
    d.end_ms = last;
    spans.extend(running.values().map(|(_, start, _)| (*start, last)));
    let width = (d.end_ms.saturating_sub(d.start_ms) / BUCKETS as u64).max(1);
    d.timeline = (0..BUCKETS as u64)
        .map(|b| {
            let at = d.start_ms + b * width;
            spans.iter().filter(|(s, e)| *s <= at && at < *e).count() as u64
        })
        .collect();
    d.durations.sort_unstable();
    d
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn secs(ms: u64) -> String {
    format!("{:.3} s", ms as f64 / 1000.0)
}

/// Renders the page.
pub fn render(d: &ReportData, title: &str) -> String {
    let mut h = String::new();
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>hq report: {t}</title>\
         <style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #999;padding:4px 8px;text-align:right}}</style></head><body>\
         <h1>HyperQueue journal report</h1><p>{t}</p>",
        t = esc(title)
    );
    let mean = if d.durations.is_empty() {
        0
    } else {
        d.durations.iter().sum::<u64>() / d.durations.len() as u64
    };
    let rows = [
        (
            "Window",
            format!(
                "{} … {}",
                crate::journal::iso8601_ms(d.start_ms),
                crate::journal::iso8601_ms(d.end_ms)
            ),
        ),
        ("Jobs", d.jobs.to_string()),
        ("Canceled jobs", d.canceled_jobs.to_string()),
        ("Workers connected", d.workers.to_string()),
        ("Task executions started", d.started.to_string()),
        ("Tasks finished", d.finished.to_string()),
        ("Tasks failed", d.failed.to_string()),
        ("Duration mean", secs(mean)),
        ("Duration median", secs(percentile(&d.durations, 0.5))),
        (
            "Duration 95th percentile",
            secs(percentile(&d.durations, 0.95)),
        ),
        (
            "Duration max",
            secs(d.durations.last().copied().unwrap_or(0)),
        ),
    ];
    h.push_str("<h2>Summary</h2><table>");
    for (k, v) in rows {
        let _ = write!(h, "<tr><th>{k}</th><td>{}</td></tr>", esc(&v));
    }
    h.push_str(
        "</table><h2>Workers</h2><table><tr><th>Worker</th><th>Executions</th><th>Busy</th></tr>",
    );
    for (w, (n, busy)) in &d.per_worker {
        let _ = write!(
            h,
            "<tr><td>{w}</td><td>{n}</td><td>{}</td></tr>",
            secs(*busy)
        );
    }
    h.push_str("</table><h2>Running tasks over time</h2>");
    let max = d.timeline.iter().copied().max().unwrap_or(0).max(1);
    let _ = write!(
        h,
        "<svg width=\"{}\" height=\"120\" role=\"img\">",
        BUCKETS * 10
    );
    for (i, n) in d.timeline.iter().enumerate() {
        let height = n * 100 / max;
        let _ = write!(
            h,
            "<rect x=\"{}\" y=\"{}\" width=\"9\" height=\"{height}\" fill=\"#4a7\"><title>{n}</title></rect>",
            i * 10,
            110 - height
        );
    }
    let _ = writeln!(h, "</svg><p>peak: {max} running</p></body></html>");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_durations_workers_and_timeline() {
        let started = |t, task| {
            (
                t,
                JournalEvent::TaskStarted {
                    job: 1,
                    task,
                    instance: 0,
                    workers: vec![2].into(),
                    variant: 0,
                },
            )
        };
        let events = vec![
            (
                1000,
                JournalEvent::WorkerConnected {
                    id: 2,
                    hostname: "n".into(),
                },
            ),
            started(1000, 1),
            started(1000, 2),
            (3000, JournalEvent::TaskFinished { job: 1, task: 1 }),
            (
                5000,
                JournalEvent::TaskFailed {
                    job: 1,
                    task: 2,
                    error: "x".into(),
                },
            ),
        ];
        let d = fold(&events, None, None);
        assert_eq!((d.started, d.finished, d.failed, d.workers), (2, 1, 1, 1));
        assert_eq!(d.durations, vec![2000, 4000]);
        assert_eq!(d.per_worker[&2], (2, 6000));
        assert_eq!(d.timeline[0], 2);
        assert_eq!(*d.timeline.last().unwrap(), 1);
        let window = fold(&events, Some(2500), None);
        assert_eq!(window.started, 0);
        let html = render(&d, "j.bin");
        assert!(html.contains("Tasks finished</th><td>1") && html.contains("<svg"));
    }
}
