//! Planner problems: what went wrong, where (a byte span in the job file) and a hint. The job-file
//! layer attaches the source text and renders them with miette.

use std::ops::Range;

/// Kinds of problems, so callers and tests can tell them apart without comparing messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The job file or a file it names could not be read.
    Io,
    /// Not valid TOML.
    Syntax,
    /// A key the format does not know.
    UnknownKey,
    /// A value of the wrong type or out of range.
    WrongType,
    /// Two tasks with one ID, or two steps with one name.
    Duplicate,
    /// A dependency on a task or step that does not exist.
    UnknownDependency,
    /// Dependencies that form a cycle.
    Cycle,
    /// A resource request that does not parse or is inconsistent.
    Resource,
    /// A command that is missing or empty.
    EmptyCommand,
    /// A template that does not compile or render.
    Template,
    /// A parameter axis that cannot be expanded.
    Axis,
    /// Any other invalid definition.
    Invalid,
}

/// One problem found while reading or planning a job file (boxed: errors are rare, results
/// on the happy path stay small).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diag(Box<DiagData>);

/// The content of a [`Diag`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiagData {
    pub kind: ErrorKind,
    pub message: String,
    /// Byte range in the job file the problem is about.
    pub span: Option<Range<usize>>,
    /// Text shown next to the caret.
    pub label: String,
    pub help: Option<String>,
    /// Other places worth showing (e.g. the first definition of a duplicate).
    pub secondary: Vec<(Range<usize>, String)>,
}

impl Diag {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Diag(Box::new(DiagData {
            kind,
            message: message.into(),
            span: None,
            label: String::new(),
            help: None,
            secondary: vec![],
        }))
    }

    pub fn at(mut self, span: Range<usize>, label: impl Into<String>) -> Self {
        self.span = Some(span);
        self.label = label.into();
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn also(mut self, span: Range<usize>, label: impl Into<String>) -> Self {
        self.secondary.push((span, label.into()));
        self
    }

    pub fn maybe_help(mut self, help: Option<String>) -> Self {
        if help.is_some() {
            self.help = help;
        }
        self
    }
}

impl std::ops::Deref for Diag {
    type Target = DiagData;
    fn deref(&self) -> &DiagData {
        &self.0
    }
}

impl std::ops::DerefMut for Diag {
    fn deref_mut(&mut self) -> &mut DiagData {
        &mut self.0
    }
}

/// `did you mean `x`?` for the closest of `candidates` to `word`, if one is close enough.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    candidates
        .into_iter()
        .map(|c| (strsim::osa_distance(word, c), c))
        .filter(|(d, c)| *d <= (word.len().max(c.len()) / 3).max(1))
        .min()
        .map(|(_, c)| format!("did you mean `{c}`?"))
}
