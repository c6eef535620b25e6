//! The user-facing job-file error: a planner [`Diag`] plus the source it points into, rendered
//! by miette as `file:line:col`, the source line with a caret, and a hint.

use crate::plan::error::{Diag, ErrorKind};
use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode};
use std::fmt;

/// Everything that can go wrong between reading a job file and having a plan.
#[derive(Debug)]
pub struct JobFileError {
    diag: Diag,
    file_name: String,
    source_code: Option<Box<NamedSource<String>>>,
    /// 1-based line and column of the span start (computed once, for callers and tests).
    location: Option<(usize, usize)>,
}

impl JobFileError {
    pub(crate) fn new(diag: Diag, file_name: &str, source: Option<&str>) -> Self {
        let location = match (&diag.span, source) {
            (Some(span), Some(src)) => Some(line_col(src, span.start)),
            _ => None,
        };
        JobFileError {
            diag,
            file_name: file_name.to_string(),
            source_code: source.map(|s| Box::new(NamedSource::new(file_name, s.to_string()))),
            location,
        }
    }

    pub fn kind(&self) -> ErrorKind {
        self.diag.kind
    }

    /// The message without location or hint.
    pub fn message(&self) -> &str {
        &self.diag.message
    }

    /// 1-based line of the offending text, when the error points into the job file.
    pub fn line(&self) -> Option<usize> {
        self.location.map(|(l, _)| l)
    }

    /// 1-based column (in characters) of the offending text.
    pub fn column(&self) -> Option<usize> {
        self.location.map(|(_, c)| c)
    }

    pub fn help_text(&self) -> Option<&str> {
        self.diag.help.as_deref()
    }

    /// Renders the error as miette's graphical report without colours (for logs and tests).
    /// Lines are not wrapped, so `file:line:col` and the message stay on one greppable line.
    pub fn render_plain(&self) -> String {
        let mut out = String::new();
        let handler =
            miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
                .with_width(usize::MAX / 2);
        if handler.render_report(&mut out, self).is_err() {
            out = self.to_string();
        }
        out
    }
}

impl fmt::Display for JobFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location {
            Some((l, c)) => write!(f, "{}:{l}:{c}: {}", self.file_name, self.diag.message),
            None => write!(f, "{}: {}", self.file_name, self.diag.message),
        }
    }
}

impl std::error::Error for JobFileError {}

impl Diagnostic for JobFileError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new("hq::jobfile"))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.diag
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.source_code.as_deref().map(|s| s as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = self.diag.span.clone()?;
        self.source_code.as_ref()?;
        let label = (!self.diag.label.is_empty()).then(|| self.diag.label.clone());
        let primary = LabeledSpan::new_primary_with_span(label, (span.start, span.len()));
        let others = self
            .diag
            .secondary
            .iter()
            .map(|(s, l)| LabeledSpan::new_with_span(Some(l.clone()), (s.start, s.len())));
        Some(Box::new(std::iter::once(primary).chain(others)))
    }
}

/// 1-based (line, column) of a byte offset.
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = &src[..floor_char_boundary(src, offset)];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}
