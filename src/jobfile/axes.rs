//! Parameter axes (`[axes.NAME]`): literal values, integer ranges, lines of a file, a JSON array,
//! or files matched by a glob with `{name}` captures. Files are read here, relative to the job
//! file's directory; glob matches are sorted by path so the expansion is deterministic.

use super::raw::RawAxis;
use crate::common::idset::IdSet;
use crate::plan::error::{Diag, ErrorKind};
use serde_json::{Map, Value};
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// An expanded axis: its name and its values in order.
#[derive(Debug, Clone)]
pub struct Axis {
    pub name: String,
    pub name_span: Range<usize>,
    pub values: Vec<Value>,
}

/// Expands one axis definition.
pub fn expand_axis(name: &str, def: &Spanned<RawAxis>, base_dir: &Path) -> Result<Axis, Diag> {
    let raw = def.get_ref();
    let axis_name = name.to_string();
    check_axis_name(name, def.span())?;
    let given: Vec<&str> = [
        raw.values.as_ref().map(|_| "values"),
        raw.range.as_ref().map(|_| "range"),
        raw.lines.as_ref().map(|_| "lines"),
        raw.json.as_ref().map(|_| "json"),
        raw.glob.as_ref().map(|_| "glob"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if given.len() != 1 {
        let what = if given.is_empty() {
            "defines no values".to_string()
        } else {
            format!("has several sources ({})", given.join(", "))
        };
        return Err(
            Diag::new(ErrorKind::Axis, format!("axis `{axis_name}` {what}"))
                .at(def.span(), "this axis")
                .help("give exactly one of `values`, `range`, `lines`, `json` or `glob`"),
        );
    }
    let values = if let Some(values) = &raw.values {
        values.clone()
    } else if let Some(range) = &raw.range {
        let set = IdSet::parse(range.get_ref()).map_err(|e| {
            Diag::new(
                ErrorKind::Axis,
                format!("invalid range of axis `{axis_name}`: {e}"),
            )
            .at(range.span(), "invalid range")
            .help("write ranges like `\"1-10\"`, `\"0-100:10\"` or `\"1,2,5-8\"`")
        })?;
        set.iter().map(|i| Value::from(i as u64)).collect()
    } else if let Some(file) = &raw.lines {
        read_lines(file, base_dir)?
    } else if let Some(file) = &raw.json {
        read_json(file, base_dir)?
    } else if let Some(pattern) = &raw.glob {
        glob_values(pattern, base_dir)?
    } else {
        unreachable!("exactly one source was checked above")
    };
    if values.is_empty() && !raw.allow_empty.unwrap_or(false) {
        return Err(
            Diag::new(ErrorKind::Axis, format!("axis `{axis_name}` has no values"))
                .at(def.span(), "empty axis")
                .help("set `allow_empty = true` on the axis if an empty sweep is intended"),
        );
    }
    Ok(Axis {
        name: axis_name,
        name_span: def.span(),
        values,
    })
}

fn check_axis_name(n: &str, span: Range<usize>) -> Result<(), Diag> {
    let ok = n
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        return Ok(());
    }
    Err(
        Diag::new(ErrorKind::Axis, format!("invalid axis name `{n}`"))
            .at(span, "not usable as a template variable")
            .help("axis names are letters, digits and `_`, not starting with a digit"),
    )
}

fn read_file(file: &Spanned<String>, base_dir: &Path) -> Result<(PathBuf, Vec<u8>), Diag> {
    let path = base_dir.join(file.get_ref());
    std::fs::read(&path)
        .map(|data| (path.clone(), data))
        .map_err(|e| {
            Diag::new(
                ErrorKind::Io,
                format!("cannot read `{}`: {e}", path.display()),
            )
            .at(file.span(), "this file")
            .help("paths are relative to the directory of the job file")
        })
}

fn read_lines(file: &Spanned<String>, base_dir: &Path) -> Result<Vec<Value>, Diag> {
    let (path, data) = read_file(file, base_dir)?;
    let text = String::from_utf8(data).map_err(|_| {
        Diag::new(
            ErrorKind::Axis,
            format!("`{}` is not valid UTF-8", path.display()),
        )
        .at(file.span(), "this file")
    })?;
    let mut lines: Vec<&str> = text.split('\n').collect();
    if lines.last() == Some(&"") {
        lines.pop();
    }
    Ok(lines
        .into_iter()
        .map(|l| Value::from(l.strip_suffix('\r').unwrap_or(l)))
        .collect())
}

fn read_json(file: &Spanned<String>, base_dir: &Path) -> Result<Vec<Value>, Diag> {
    let (path, data) = read_file(file, base_dir)?;
    let value: Value = serde_json::from_slice(&data).map_err(|e| {
        Diag::new(
            ErrorKind::Axis,
            format!("`{}` is not valid JSON: {e}", path.display()),
        )
        .at(file.span(), "this file")
    })?;
    match value {
        Value::Array(items) => Ok(items),
        _ => Err(Diag::new(
            ErrorKind::Axis,
            format!(
                "{}: The top element of the provided JSON file has to be an array",
                path.display()
            ),
        )
        .at(file.span(), "this file")),
    }
}

/// One piece of a glob pattern with captures.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Lit(char),
    /// `*`, `?`, `[...]` or `{name}`: some characters within one path component.
    Any {
        capture: Option<String>,
        one: bool,
    },
    /// `**`: anything, including `/`.
    Deep,
}

fn tokenize(pattern: &str) -> Result<(Vec<Tok>, String), String> {
    let mut toks = Vec::new();
    let mut glob = String::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' => {
                let name: String = chars.by_ref().take_while(|c| *c != '}').collect();
                let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !valid {
                    return Err(format!(
                        "invalid capture `{{{name}}}`: use `{{name}}` with letters, digits and `_`"
                    ));
                }
                toks.push(Tok::Any {
                    capture: Some(name),
                    one: false,
                });
                glob.push('*');
            }
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                toks.push(Tok::Deep);
                glob.push_str("**");
            }
            '*' => {
                toks.push(Tok::Any {
                    capture: None,
                    one: false,
                });
                glob.push('*');
            }
            '?' => {
                toks.push(Tok::Any {
                    capture: None,
                    one: true,
                });
                glob.push('?');
            }
            '[' => {
                glob.push('[');
                for c in chars.by_ref() {
                    glob.push(c);
                    if c == ']' {
                        break;
                    }
                }
                toks.push(Tok::Any {
                    capture: None,
                    one: true,
                });
            }
            c => {
                toks.push(Tok::Lit(c));
                glob.push(c);
            }
        }
    }
    Ok((toks, glob))
}

/// Matches `text` against `toks`; captures take as few characters as possible, left to right.
fn match_captures(toks: &[Tok], text: &[char], out: &mut Vec<(String, String)>) -> bool {
    let Some((first, rest)) = toks.split_first() else {
        return text.is_empty();
    };
    match first {
        Tok::Lit(c) => text.first() == Some(c) && match_captures(rest, &text[1..], out),
        Tok::Any { capture, one } => {
            let max = text.iter().position(|c| *c == '/').unwrap_or(text.len());
            let lens: Vec<usize> = if *one { vec![1] } else { (0..=max).collect() };
            for len in lens.into_iter().filter(|l| *l <= max) {
                let mark = out.len();
                if let Some(name) = capture {
                    out.push((name.clone(), text[..len].iter().collect()));
                }
                if match_captures(rest, &text[len..], out) {
                    return true;
                }
                out.truncate(mark);
            }
            false
        }
        Tok::Deep => (0..=text.len()).any(|len| match_captures(rest, &text[len..], out)),
    }
}

fn glob_values(pattern: &Spanned<String>, base_dir: &Path) -> Result<Vec<Value>, Diag> {
    let bad = |msg: String| {
        Diag::new(ErrorKind::Axis, msg)
            .at(pattern.span(), "this pattern")
            .help("use glob syntax (`*`, `**`, `?`, `[a-z]`) plus `{name}` to capture a part of a file name")
    };
    let (toks, glob_text) = tokenize(pattern.get_ref()).map_err(bad)?;
    let absolute = Path::new(pattern.get_ref()).is_absolute();
    let full = if absolute {
        glob_text.clone()
    } else {
        format!("{}/{}", base_dir.display(), glob_text)
    };
    let paths =
        glob::glob(&full).map_err(|e| bad(format!("invalid glob `{}`: {e}", pattern.get_ref())))?;
    let mut found: Vec<PathBuf> = Vec::new();
    for entry in paths {
        let path = entry.map_err(|e| bad(format!("cannot read while globbing: {e}")))?;
        found.push(path);
    }
    found.sort();
    let mut values = Vec::with_capacity(found.len());
    for path in found {
        let rel = if absolute {
            path.clone()
        } else {
            path.strip_prefix(base_dir)
                .map(Path::to_path_buf)
                .unwrap_or_else(|_| path.clone())
        };
        let rel_text = rel.to_string_lossy().to_string();
        let chars: Vec<char> = rel_text.chars().collect();
        let mut caps = Vec::new();
        match_captures(&toks, &chars, &mut caps);
        values.push(file_value(&path, &rel_text, caps));
    }
    Ok(values)
}

fn file_value(path: &Path, rel: &str, captures: Vec<(String, String)>) -> Value {
    let text = |o: Option<&std::ffi::OsStr>| {
        Value::from(
            o.map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default(),
        )
    };
    let mut obj = Map::new();
    obj.insert(
        "path".into(),
        Value::from(path.to_string_lossy().to_string()),
    );
    obj.insert("rel".into(), Value::from(rel));
    obj.insert("name".into(), text(path.file_name()));
    obj.insert("stem".into(), text(path.file_stem()));
    obj.insert("ext".into(), text(path.extension()));
    obj.insert("dir".into(), text(path.parent().map(|p| p.as_os_str())));
    for (name, value) in captures {
        obj.insert(name, Value::from(value));
    }
    Value::Object(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_are_matched_shortest_first() {
        let (toks, glob) = tokenize("data/{group}/s_{n}.csv").unwrap();
        assert_eq!(glob, "data/*/s_*.csv");
        let text: Vec<char> = "data/a_b/s_1_2.csv".chars().collect();
        let mut caps = Vec::new();
        assert!(match_captures(&toks, &text, &mut caps));
        assert_eq!(
            caps,
            vec![("group".into(), "a_b".into()), ("n".into(), "1_2".into())]
        );
        assert!(tokenize("x/{1bad}").is_err());
    }
}
