//! Worker resource pools (`--cpus`, `--resource NAME=DEF`): parsing and human summaries.

use super::{ResourceAmount, ResourceError};
use serde::{Deserialize, Serialize};

/// Every pool a worker offers; `cpus` is always present.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceDescriptor {
    pub resources: Vec<ResourceDescriptorItem>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceDescriptorItem {
    pub name: String,
    pub kind: ResourceDescriptorKind,
}

/// One pool: indexed labels (a list, groups of lists, an integer range) or a plain sum.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ResourceDescriptorKind {
    List { values: Vec<String> },
    Groups { groups: Vec<Vec<String>> },
    Range { start: u32, end: u32 },
    Sum { size: ResourceAmount },
}

impl ResourceDescriptorKind {
    /// The groups of labels of an indexed pool (one group unless NUMA-like groups were given).
    pub fn groups(&self) -> Vec<Vec<String>> {
        match self {
            ResourceDescriptorKind::List { values } => vec![values.clone()],
            ResourceDescriptorKind::Groups { groups } => groups.clone(),
            ResourceDescriptorKind::Range { start, end } => {
                vec![(*start..=*end).map(|i| i.to_string()).collect()]
            }
            ResourceDescriptorKind::Sum { .. } => vec![],
        }
    }

    /// Total amount in the pool.
    pub fn size(&self) -> ResourceAmount {
        match self {
            ResourceDescriptorKind::Sum { size } => *size,
            other => ResourceAmount::whole(other.groups().iter().map(|g| g.len() as u64).sum()),
        }
    }

    /// One-line summary: count, `<n>x<size>` per distinct group size, or the sum.
    pub fn summary(&self, name: &str) -> String {
        match self {
            ResourceDescriptorKind::Sum { size } if name == "mem" => format_mib(*size),
            ResourceDescriptorKind::Sum { size } => size.to_string(),
            ResourceDescriptorKind::Groups { groups } if groups.len() > 1 => {
                let mut sizes: Vec<(usize, usize)> = Vec::new();
                for g in groups {
                    match sizes.iter_mut().find(|(s, _)| *s == g.len()) {
                        Some((_, count)) => *count += 1,
                        None => sizes.push((g.len(), 1)),
                    }
                }
                let parts: Vec<String> = sizes.iter().map(|(s, c)| format!("{c}x{s}")).collect();
                parts.join(" ")
            }
            other => other.size().whole_part().to_string(),
        }
    }

    /// Full description as `hq worker hwdetect` prints it.
    pub fn full_description(&self) -> String {
        fn list(values: &[String]) -> String {
            format!("[{}]", values.join(","))
        }
        match self {
            ResourceDescriptorKind::List { values } => list(values),
            ResourceDescriptorKind::Groups { groups } => {
                let inner: Vec<String> = groups.iter().map(|g| list(g)).collect();
                format!("[{}]", inner.join(","))
            }
            ResourceDescriptorKind::Range { start, end } if start == end => format!("[{start}]"),
            ResourceDescriptorKind::Range { start, end } => format!("range({start}-{end})"),
            ResourceDescriptorKind::Sum { size } => format!("sum({size})"),
        }
    }
}

fn format_mib(size: ResourceAmount) -> String {
    let mib = size.0 as f64 / 10_000.0;
    if mib < 512.0 {
        format!("{mib:.2} MiB")
    } else {
        format!("{:.2} GiB", mib / 1024.0)
    }
}

impl ResourceDescriptor {
    pub fn get(&self, name: &str) -> Option<&ResourceDescriptorKind> {
        self.resources
            .iter()
            .find(|r| r.name == name)
            .map(|r| &r.kind)
    }

    /// `cpus 2x8; gpus/nvidia 2; mem 62.71 GiB`
    pub fn summary(&self) -> String {
        let parts: Vec<String> = self
            .resources
            .iter()
            .map(|r| format!("{} {}", r.name, r.kind.summary(&r.name)))
            .collect();
        parts.join("; ")
    }

    /// Adds a pool, refusing a name that is already defined.
    pub fn add(&mut self, name: &str, kind: ResourceDescriptorKind) -> Result<(), ResourceError> {
        if self.get(name).is_some() {
            return Err(ResourceError::DefinedTwice(name.to_string()));
        }
        self.resources.push(ResourceDescriptorItem {
            name: name.to_string(),
            kind,
        });
        Ok(())
    }
}

/// Checks a resource name: an ASCII letter, then ASCII letters, digits or `/`.
pub fn validate_name(name: &str) -> Result<(), ResourceError> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '/' || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(ResourceError::Invalid(format!(
            "invalid resource name `{name}`: it must start with a letter and contain only letters, digits or `/`"
        )))
    }
}

/// Parses `NAME=DEF` of `--resource`.
pub fn parse_resource_flag(text: &str) -> Result<(String, ResourceDescriptorKind), ResourceError> {
    let (name, def) = text.split_once('=').ok_or_else(|| {
        ResourceError::Invalid(format!(
            "invalid resource `{text}`: expected NAME=DEFINITION, e.g. `gpus=[0,1]`"
        ))
    })?;
    let name = name.trim();
    validate_name(name)?;
    let kind = if name == "cpus" {
        parse_cpu_definition(def)?
    } else {
        parse_resource_definition(def)?
    };
    Ok((name.to_string(), kind))
}

/// Parses a pool definition: `[a,b]`, `[[0,1],[2,3]]`, `range(1-4)`, `NxM`, `sum(SIZE)`.
pub fn parse_resource_definition(text: &str) -> Result<ResourceDescriptorKind, ResourceError> {
    let t = text.trim();
    let bad =
        |why: &str| ResourceError::Invalid(format!("invalid resource definition `{text}`: {why}"));
    if let Some(inner) = t.strip_prefix("sum(").and_then(|r| r.strip_suffix(')')) {
        return Ok(ResourceDescriptorKind::Sum {
            size: ResourceAmount::parse(inner)?,
        });
    }
    let range_inner = t
        .strip_prefix("range(")
        .or_else(|| t.strip_prefix("indices("))
        .and_then(|r| r.strip_suffix(')'));
    if let Some(inner) = range_inner {
        let (a, b) = inner
            .split_once('-')
            .ok_or_else(|| bad("expected range(START-END)"))?;
        let start: u32 = a
            .trim()
            .parse()
            .map_err(|_| bad("range bounds must be integers"))?;
        let end: u32 = b
            .trim()
            .parse()
            .map_err(|_| bad("range bounds must be integers"))?;
        if start > end {
            return Err(bad("the range start is larger than its end"));
        }
        return Ok(ResourceDescriptorKind::Range { start, end });
    }
    if let Some(inner) = t.strip_prefix("list(").and_then(|r| r.strip_suffix(')')) {
        return parse_resource_definition(&format!("[{inner}]"));
    }
    if let Some((n, m)) = t.split_once('x') {
        if let (Ok(n), Ok(m)) = (n.trim().parse::<u32>(), m.trim().parse::<u32>()) {
            if n == 0 || m == 0 {
                return Err(bad("groups must not be empty"));
            }
            let groups = (0..n)
                .map(|g| (g * m..(g + 1) * m).map(|i| i.to_string()).collect())
                .collect();
            return Ok(normalize_groups(groups));
        }
    }
    if t.starts_with('[') {
        return parse_bracketed(t).map_err(|why| bad(&why));
    }
    Err(bad(
        "expected `[a,b,...]`, `[[..],[..]]`, `range(A-B)`, `NxM` or `sum(N)`",
    ))
}

/// Parses `--cpus`: a plain count `N` or any pool definition except `sum`.
pub fn parse_cpu_definition(text: &str) -> Result<ResourceDescriptorKind, ResourceError> {
    let t = text.trim();
    if let Ok(n) = t.parse::<u32>() {
        if n == 0 {
            return Err(ResourceError::Invalid(
                "invalid CPU definition `0`: a worker needs at least one CPU".into(),
            ));
        }
        return Ok(ResourceDescriptorKind::Range {
            start: 0,
            end: n - 1,
        });
    }
    if let Some((a, b)) = t.split_once('-') {
        if let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) {
            if a <= b {
                return Ok(ResourceDescriptorKind::Range { start: a, end: b });
            }
        }
    }
    let kind = parse_resource_definition(t)?;
    if matches!(kind, ResourceDescriptorKind::Sum { .. }) {
        return Err(ResourceError::Invalid(
            "Resource kind `sum` cannot be used with CPUs. CPUs must have identity".into(),
        ));
    }
    Ok(kind)
}

fn normalize_groups(groups: Vec<Vec<String>>) -> ResourceDescriptorKind {
    if groups.len() == 1 {
        ResourceDescriptorKind::List {
            values: groups.into_iter().next().unwrap_or_default(),
        }
    } else {
        ResourceDescriptorKind::Groups { groups }
    }
}

/// Parses `[a, "b c", 1-3]` or `[[0-3],[4-7]]`; `A-B` items expand to ranges.
fn parse_bracketed(t: &str) -> Result<ResourceDescriptorKind, String> {
    let inner = t
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .ok_or("unbalanced brackets")?;
    let inner = inner.trim();
    let groups: Vec<Vec<String>> = if inner.starts_with('[') {
        let mut groups = Vec::new();
        let mut rest = inner;
        while !rest.is_empty() {
            let rest_trim = rest.trim_start_matches([',', ' ']);
            if rest_trim.is_empty() {
                break;
            }
            let body = rest_trim
                .strip_prefix('[')
                .ok_or("expected `[` to start a group")?;
            let close = body.find(']').ok_or("unbalanced brackets")?;
            groups.push(parse_items(&body[..close])?);
            rest = &body[close + 1..];
        }
        groups
    } else {
        vec![parse_items(inner)?]
    };
    if groups.iter().any(|g| g.is_empty()) || groups.is_empty() {
        return Err("groups and lists must not be empty".into());
    }
    let mut all: Vec<&String> = groups.iter().flatten().collect();
    all.sort();
    if all.windows(2).any(|w| w[0] == w[1]) {
        return Err("labels must be unique".into());
    }
    Ok(normalize_groups(groups))
}

fn parse_items(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    let mut current = String::new();
    let mut quoted = false;
    let push = |item: &str, quoted: bool, out: &mut Vec<String>| -> Result<(), String> {
        let item = if quoted {
            item.to_string()
        } else {
            item.trim().to_string()
        };
        if item.is_empty() {
            return Ok(());
        }
        match item.split_once('-') {
            Some((a, b)) if !quoted => match (a.parse::<u32>(), b.parse::<u32>()) {
                (Ok(a), Ok(b)) if a <= b => out.extend((a..=b).map(|i| i.to_string())),
                _ => out.push(item),
            },
            _ => out.push(item),
        }
        Ok(())
    };
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                quoted = true;
                for c in chars.by_ref() {
                    if c == '"' {
                        break;
                    }
                    current.push(c);
                }
            }
            ',' => {
                push(&current, quoted, &mut out)?;
                current.clear();
                quoted = false;
            }
            _ => current.push(c),
        }
    }
    push(&current, quoted, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pool_forms() {
        assert_eq!(
            parse_cpu_definition("4").unwrap().full_description(),
            "range(0-3)"
        );
        assert_eq!(
            parse_cpu_definition("2x2").unwrap().full_description(),
            "[[0,1],[2,3]]"
        );
        assert_eq!(
            parse_cpu_definition("[[0-1],[2-3]]")
                .unwrap()
                .summary("cpus"),
            "2x2"
        );
        assert_eq!(
            parse_resource_definition("[a, b]")
                .unwrap()
                .full_description(),
            "[a,b]"
        );
        assert_eq!(
            parse_resource_definition("sum(100)")
                .unwrap()
                .full_description(),
            "sum(100)"
        );
        assert!(parse_cpu_definition("sum(4)").is_err());
        assert!(parse_resource_definition("[a,a]").is_err());
        assert!(parse_resource_definition("nonsense").is_err());
    }
}
