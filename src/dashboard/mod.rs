//! `hq dashboard`: a terminal UI over the server's dashboard feed. The data model
//! ([`data`]) is a fold over feed messages and knows nothing of terminals; [`app`] turns keys
//! into navigation; [`ui`] renders with ratatui. This file runs them: in a real terminal
//! (crossterm, alternate screen, raw mode), or once into text (`--once`).

pub mod app;
pub mod data;
mod tail;
pub mod ui;

use crate::client::{ClientError, Session};
use crate::protocol::messages::*;
use crate::protocol::{FrameReceiver, FrameSender};
use app::{Action, App, Popup, Screen};
use crossterm::event::{Event, KeyEventKind};
use data::DashboardData;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc;

#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("the terminal failed: {0}")]
    Terminal(#[from] std::io::Error),
    #[error("the server closed the connection before sending the dashboard's data")]
    NoSnapshot,
    #[error(transparent)]
    Journal(#[from] crate::journal::JournalError),
}

/// What the live loop receives: feed messages, and once the past from the journal.
enum Incoming {
    Feed(Box<DashboardFeed>),
    Past(Vec<(u64, String)>),
}

/// Where the dashboard's data comes from.
pub enum Source {
    /// The server of this server directory, live.
    Live(PathBuf),
    /// A journal file, replayed once (`hq dashboard replay JOURNAL`).
    Replay(Box<crate::server::JournalView>),
}

impl Source {
    pub fn replay(path: &Path) -> Result<Source, DashboardError> {
        let view = crate::server::JournalView::open(path)?;
        for w in &view.warnings {
            log::warn!("{w}");
        }
        Ok(Source::Replay(Box::new(view)))
    }
}

/// Connects and subscribes; returns the parts of the connection and the snapshot.
async fn subscribe(
    server_dir: &Path,
    view: DashboardView,
) -> Result<(FrameSender, FrameReceiver, DashboardFeed), DashboardError> {
    let mut session = Session::connect(server_dir).await?;
    session.send(&ClientRequest::Dashboard { view }).await?;
    loop {
        match session.recv().await? {
            ClientResponse::Dashboard(feed) => {
                let (tx, rx) = session.into_parts();
                return Ok((tx, rx, *feed));
            }
            _ => continue,
        }
    }
}

/// `hq dashboard --once`: one frame of `start` as text.
pub async fn render_once(
    source: &Source,
    start: Screen,
    width: u16,
    height: u16,
) -> Result<String, DashboardError> {
    let mut app = App::new(start);
    let feed = match source {
        Source::Live(dir) => subscribe(dir, app.view()).await?.2,
        Source::Replay(journal) => journal.feed(app.view()),
    };
    let mut data = DashboardData::default();
    data.apply(feed);
    refresh_output(&mut app, &data);
    Ok(ui::render_text(&app, &data, width, height))
}

/// Reads the tail shown on the output screen.
fn refresh_output(app: &mut App, data: &DashboardData) {
    if let (Screen::Output { job, task, .. }, Some((row, stderr))) =
        (app.screen().clone(), app.output_task(data))
    {
        let source = if stderr { &row.stderr } else { &row.stdout };
        app.output = tail::read_tail(source, job, task, stderr);
    }
}

/// The interactive dashboard, until the user presses `q`.
pub async fn run_live(source: &Source, start: Screen) -> Result<(), DashboardError> {
    let mut app = App::new(start);
    let mut data = DashboardData::default();
    let (mut sender, mut feeds) = match source {
        Source::Live(dir) => {
            let (sender, receiver, feed) = subscribe(dir, app.view()).await?;
            let journal = feed.journal.clone();
            data.apply(feed);
            (Some(sender), spawn_feed(receiver, journal))
        }
        Source::Replay(journal) => {
            data.apply(journal.feed(app.view()));
            (None, mpsc::unbounded_channel().1)
        }
    };
    let mut keys = spawn_keys();
    let mut terminal = ratatui::try_init()?;
    let result = async {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            refresh_output(&mut app, &data);
            app.clamp_rows(&data);
            terminal.draw(|f| ui::draw(f, &app, &data))?;
            tokio::select! {
                feed = feeds.recv(), if sender.is_some() => match feed {
                    Some(Incoming::Feed(feed)) => data.apply(*feed),
                    Some(Incoming::Past(timeline)) => data.set_past(timeline),
                    None => {
                        app.popup = Some(Popup::Message(
                            "Lost the connection to the server. Press q to quit.".into(),
                        ));
                        sender = None;
                    }
                },
                key = keys.recv() => {
                    let Some(key) = key else { return Ok(()) };
                    let Some(key) = key else { continue };
                    match app.on_key(key, &data) {
                        Action::Quit => return Ok(()),
                        Action::None => {}
                        Action::ViewChanged => match (source, &mut sender) {
                            (Source::Replay(journal), _) => data.apply(journal.feed(app.view())),
                            (Source::Live(_), Some(tx)) => {
                                let _ = tx.send(&ClientRequest::DashboardView(app.view())).await;
                            }
                            (Source::Live(_), None) => {}
                        },
                        Action::CancelJob(id) => {
                            let text = match source {
                                Source::Live(dir) => cancel(dir, id).await,
                                Source::Replay(_) => "A replayed journal cannot be changed.".into(),
                            };
                            app.popup = Some(Popup::Message(text));
                        }
                    }
                }
                _ = tick.tick() => {}
            }
        }
    }
    .await;
    ratatui::restore();
    result
}

/// Feed messages from the server, until it closes the connection. When the server has a
/// journal this machine can read, its past comes first as a timeline (read in the background).
fn spawn_feed(
    mut receiver: FrameReceiver,
    journal: Option<String>,
) -> mpsc::UnboundedReceiver<Incoming> {
    let (tx, rx) = mpsc::unbounded_channel();
    if let Some(path) = journal {
        let tx = tx.clone();
        tokio::task::spawn_blocking(move || {
            if let Ok(timeline) = crate::server::JournalView::timeline_of(Path::new(&path)) {
                let _ = tx.send(Incoming::Past(timeline));
            }
        });
    }
    tokio::spawn(async move {
        while let Ok(Some(msg)) = receiver.recv::<ClientResponse>().await {
            if let ClientResponse::Dashboard(feed) = msg {
                if tx.send(Incoming::Feed(feed)).is_err() {
                    break;
                }
            }
        }
    });
    rx
}

/// Key presses from a thread that blocks on the terminal; `None` items mean "redraw"
/// (a resize).
fn spawn_keys() -> mpsc::UnboundedReceiver<Option<crossterm::event::KeyEvent>> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || loop {
        let item = match crossterm::event::read() {
            Ok(Event::Key(k)) if k.kind != KeyEventKind::Release => Some(k),
            Ok(Event::Resize(..)) => None,
            Ok(_) => continue,
            Err(_) => break,
        };
        if tx.send(item).is_err() {
            break;
        }
    });
    rx
}

/// Cancels a job over a second connection; returns what the server said.
async fn cancel(server_dir: &Path, id: JobId) -> String {
    let request = ClientRequest::CancelJob {
        selector: IdSelector::Ids(crate::common::idset::IdSet::from_range(id, id)),
        reason: Some("canceled from the dashboard".into()),
    };
    let answer = match Session::connect(server_dir).await {
        Ok(mut s) => s.request(request).await,
        Err(e) => Err(e),
    };
    match answer {
        Ok(ClientResponse::Log { lines, .. }) => lines
            .into_iter()
            .map(|l| match l {
                LogLine::Info(t) | LogLine::Warn(t) | LogLine::Error(t) => t,
            })
            .collect::<Vec<_>>()
            .join("\n"),
        Ok(other) => format!("unexpected answer: {other:?}"),
        Err(e) => format!("cannot cancel job {id}: {e}"),
    }
}
