//! Turns serde/TOML errors into diagnostics that name the key path (`task[1].request[0].gpus`),
//! classify the problem (unknown key, wrong type) and suggest the intended key.

use crate::plan::error::{did_you_mean, Diag, ErrorKind};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::ops::Range;

/// The document as a tree of keys and spanned values, used only to name key paths.
pub enum Tree {
    Leaf,
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
}

/// A value with its span. Unlike `toml::Spanned`, this also accepts the implicit tables of
/// dotted headers (`[axes.model]` creates `axes`), which have no span.
pub struct Node {
    span: Option<Range<usize>>,
    tree: Tree,
}

// The protocol `toml::Spanned` uses to ask the deserializer for spans (serde_spanned 0.6).
const SPANNED_NAME: &str = "$__serde_spanned_private_Spanned";
const START: &str = "$__serde_spanned_private_start";
const END: &str = "$__serde_spanned_private_end";
const VALUE: &str = "$__serde_spanned_private_value";

struct TreeVisitor;

impl<'de> Visitor<'de> for TreeVisitor {
    type Value = Tree;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any TOML value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Tree, E> {
        Ok(Tree::Leaf)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Tree, E> {
        Ok(Tree::Leaf)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Tree, E> {
        Ok(Tree::Leaf)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Tree, E> {
        Ok(Tree::Leaf)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Tree, E> {
        Ok(Tree::Leaf)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Tree, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Tree::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tree, A::Error> {
        let mut items = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            items.push((key, map.next_value::<Node>()?));
        }
        Ok(Tree::Map(items))
    }
}

impl<'de> Deserialize<'de> for Tree {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TreeVisitor)
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Node;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any TOML value")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
                TreeVisitor.visit_bool(v).map(unspanned)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
                TreeVisitor.visit_i64(v).map(unspanned)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
                TreeVisitor.visit_u64(v).map(unspanned)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
                TreeVisitor.visit_f64(v).map(unspanned)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
                TreeVisitor.visit_str(v).map(unspanned)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Node, A::Error> {
                TreeVisitor.visit_seq(seq).map(unspanned)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
                let Some(first) = map.next_key::<String>()? else {
                    return Ok(unspanned(Tree::Map(vec![])));
                };
                if first != START {
                    let mut items = vec![(first, map.next_value::<Node>()?)];
                    while let Some(key) = map.next_key::<String>()? {
                        items.push((key, map.next_value::<Node>()?));
                    }
                    return Ok(unspanned(Tree::Map(items)));
                }
                let start: usize = map.next_value()?;
                let mut end = start;
                let mut tree = Tree::Leaf;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        END => end = map.next_value()?,
                        VALUE => tree = map.next_value::<Tree>()?,
                        _ => {
                            map.next_value::<de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(Node {
                    span: Some(start..end),
                    tree,
                })
            }
        }
        d.deserialize_struct(SPANNED_NAME, &[START, END, VALUE], V)
    }
}

fn unspanned(tree: Tree) -> Node {
    Node { span: None, tree }
}

pub fn parse_tree(source: &str) -> Result<Tree, toml::de::Error> {
    toml::from_str(source)
}

fn contains(outer: &Option<Range<usize>>, inner: &Range<usize>) -> bool {
    outer
        .as_ref()
        .is_some_and(|o| o.start <= inner.start && inner.end <= o.end)
}

/// Whether `node` or something inside it contains `span`.
fn inside(node: &Node, span: &Range<usize>) -> bool {
    contains(&node.span, span)
        || match &node.tree {
            Tree::Leaf => false,
            Tree::Seq(items) => items.iter().any(|n| inside(n, span)),
            Tree::Map(items) => items.iter().any(|(_, n)| inside(n, span)),
        }
}

/// The path of the innermost key or value containing `span`.
fn path_to(tree: &Tree, span: &Range<usize>, path: &mut String) {
    match tree {
        Tree::Leaf => {}
        Tree::Seq(items) => {
            if let Some((i, item)) = items.iter().enumerate().find(|(_, it)| inside(it, span)) {
                path.push_str(&format!("[{i}]"));
                path_to(&item.tree, span, path);
            }
        }
        Tree::Map(items) => {
            // Only values carry spans (keys of table headers cannot be spanned), so an error
            // on a key resolves to the innermost table around it.
            for (k, v) in items {
                if inside(v, span) {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(k);
                    if v.span.as_ref() != Some(span) {
                        path_to(&v.tree, span, path);
                    }
                    return;
                }
            }
        }
    }
}

/// A diagnostic for a deserialisation error of a syntactically valid file.
pub fn explain(err: &toml::de::Error, tree: &Tree) -> Diag {
    let message = err.message().trim().replace('\n', "; ");
    let span = err.span();
    let mut path = String::new();
    if let Some(s) = &span {
        path_to(tree, s, &mut path);
    }
    let place = if path.is_empty() {
        "at the top level".to_string()
    } else {
        format!("at `{path}`")
    };
    let mut diag = if let Some(rest) = message.strip_prefix("unknown field `") {
        let (key, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let options: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        let help = did_you_mean(key, options.iter().copied())
            .unwrap_or_else(|| format!("known keys here: {}", options.join(", ")));
        let parent = if path.is_empty() {
            "at the top level".to_string()
        } else {
            format!("in `{path}`")
        };
        Diag::new(
            ErrorKind::UnknownKey,
            format!("unknown key `{key}` {parent}"),
        )
        .help(help)
    } else if message.starts_with("missing field") {
        Diag::new(ErrorKind::Invalid, format!("{message} {place}"))
    } else {
        Diag::new(ErrorKind::WrongType, format!("{message} {place}"))
            .help("see docs/jobfile.md or schemas/job.schema.json for the type of every key")
    };
    if let Some(s) = span {
        let label = match diag.kind {
            ErrorKind::UnknownKey => "unknown key",
            _ => "here",
        };
        diag = diag.at(s, label);
    }
    diag
}
