//! Parsing of worker pool definitions: `N` (CPUs), `A-B` (CPUs), `NxM`, `[a, "b c"]`,
//! `[[0-3],[4-7]]`, `range(S-E)`, `sum(SIZE)`, and the older `list(..)` / `indices(..)` forms.

use super::descriptor::ResourceDescriptorKind;
use super::{ResourceAmount, ResourceError, CPU_RESOURCE_NAME};

/// Largest number of labels one pool may have (guards against `range(0-4000000000)`).
pub const MAX_POOL_LABELS: u64 = 1 << 20;

const FORMS: &str =
    "expected `[a,b,...]`, `[[a,b],[c,d]]`, `range(START-END)`, `NxM` or `sum(SIZE)`";

/// Checks a resource name: an ASCII letter, then ASCII letters, digits or `/`.
pub fn validate_name(name: &str) -> Result<(), ResourceError> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '/');
    if ok {
        Ok(())
    } else {
        Err(ResourceError::InvalidName(name.to_string()))
    }
}

/// Parses `NAME=DEF` of `--resource` (worker side); `cpus` follows the `--cpus` rules.
pub fn parse_resource_flag(text: &str) -> Result<(String, ResourceDescriptorKind), ResourceError> {
    let (name, def) = text.split_once('=').ok_or_else(|| {
        ResourceError::definition(text, "expected NAME=DEFINITION, e.g. `gpus=[0,1]`")
    })?;
    let name = name.trim();
    validate_name(name)?;
    let kind = if name == CPU_RESOURCE_NAME {
        parse_cpu_definition(def)?
    } else {
        parse_resource_definition(def)?
    };
    Ok((name.to_string(), kind))
}

/// Parses `--cpus`: a count `N`, an ID range `A-B`, or any pool definition except `sum`.
pub fn parse_cpu_definition(text: &str) -> Result<ResourceDescriptorKind, ResourceError> {
    let t = text.trim();
    if let Some(n) = parse_number(t) {
        if n == 0 {
            return Err(ResourceError::definition(
                text,
                "the pool is empty; a worker needs at least one CPU (e.g. `--cpus 4`)",
            ));
        }
        check_size(text, u64::from(n))?;
        return Ok(ResourceDescriptorKind::Range {
            start: 0,
            end: n - 1,
        });
    }
    if let Some((a, b)) = t.split_once('-') {
        if let (Some(a), Some(b)) = (parse_number(a), parse_number(b)) {
            if a > b {
                return Err(ResourceError::definition(
                    text,
                    format!("the first CPU ID is larger than the last; did you mean `{b}-{a}`?"),
                ));
            }
            check_size(text, u64::from(b - a) + 1)?;
            return Ok(ResourceDescriptorKind::Range { start: a, end: b });
        }
    }
    let kind = parse_resource_definition(t).map_err(|e| match e {
        ResourceError::InvalidDefinition { reason, .. } if reason == FORMS => {
            ResourceError::definition(
                text,
                "expected a CPU count `N`, an ID range `A-B`, `NxM`, `[0,1,...]`, \
                 `[[0,1],[2,3]]` or `range(START-END)`",
            )
        }
        other => other,
    })?;
    if matches!(kind, ResourceDescriptorKind::Sum { .. }) {
        return Err(ResourceError::SumForCpus);
    }
    Ok(kind)
}

/// Parses a pool definition: `[a,b]`, `[[0,1],[2,3]]`, `range(1-4)`, `NxM`, `sum(N)`, and the
/// older `list(a,b)` / `indices(1-4)`.
pub fn parse_resource_definition(text: &str) -> Result<ResourceDescriptorKind, ResourceError> {
    let t = text.trim();
    if let Some(inner) = call_args(t, "sum") {
        let size = ResourceAmount::parse(inner)?;
        if size.is_zero() {
            return Err(ResourceError::definition(
                text,
                "the pool is empty; give a positive size such as `sum(1000)`",
            ));
        }
        return Ok(ResourceDescriptorKind::Sum { size });
    }
    if let Some(inner) = call_args(t, "range").or_else(|| call_args(t, "indices")) {
        let (a, b) = inner
            .split_once('-')
            .and_then(|(a, b)| Some((parse_number(a)?, parse_number(b)?)))
            .ok_or_else(|| {
                ResourceError::definition(text, "expected `range(START-END)` with integers")
            })?;
        if a > b {
            return Err(ResourceError::definition(
                text,
                format!("the range start is larger than its end; did you mean `range({b}-{a})`?"),
            ));
        }
        check_size(text, u64::from(b - a) + 1)?;
        return Ok(ResourceDescriptorKind::Range { start: a, end: b });
    }
    if let Some(inner) = call_args(t, "list") {
        return parse_brackets(text, &format!("[{inner}]"));
    }
    if let Some((n, m)) = t.split_once('x') {
        if let (Some(n), Some(m)) = (parse_number(n), parse_number(m)) {
            if n == 0 || m == 0 {
                return Err(ResourceError::definition(
                    text,
                    "the pool is empty; both numbers of `NxM` must be at least 1",
                ));
            }
            check_size(text, u64::from(n) * u64::from(m))?;
            return Ok(ResourceDescriptorKind::regular_groups(n, m));
        }
    }
    if t.starts_with('[') {
        return parse_brackets(text, t);
    }
    if let Some(n) = parse_number(t) {
        let hint = match n {
            0 => "the pool is empty".to_string(),
            n => format!(
                "a plain count is only accepted for `--cpus`; use `range(0-{})` for {n} labels \
                 or `sum({n})` for an amount",
                n - 1
            ),
        };
        return Err(ResourceError::definition(text, hint));
    }
    Err(ResourceError::definition(text, FORMS))
}

/// `name(args)` → `args`.
fn call_args<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.strip_prefix(name)?
        .trim_start()
        .strip_prefix('(')?
        .strip_suffix(')')
}

fn parse_number(text: &str) -> Option<u32> {
    let t = text.trim();
    if t.is_empty() || !t.chars().all(|c| c.is_ascii_digit() || c == '_') {
        return None;
    }
    t.replace('_', "").parse().ok()
}

fn check_size(text: &str, labels: u64) -> Result<(), ResourceError> {
    if labels > MAX_POOL_LABELS {
        return Err(ResourceError::definition(
            text,
            format!("the pool would have {labels} labels; at most {MAX_POOL_LABELS} are supported"),
        ));
    }
    Ok(())
}

#[derive(Debug, PartialEq)]
enum Token {
    Open,
    Close,
    Comma,
    /// A label; `true` when it was quoted (and is therefore never expanded as `A-B`).
    Label(String, bool),
}

fn tokenize(def: &str, t: &str) -> Result<Vec<Token>, ResourceError> {
    let mut tokens = Vec::new();
    let mut chars = t.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            '[' | ']' | ',' => {
                chars.next();
                tokens.push(match c {
                    '[' => Token::Open,
                    ']' => Token::Close,
                    _ => Token::Comma,
                });
            }
            '"' | '\'' => {
                chars.next();
                let mut label = String::new();
                loop {
                    match chars.next() {
                        Some(q) if q == c => break,
                        Some(other) => label.push(other),
                        None => {
                            return Err(ResourceError::definition(
                                def,
                                format!("the quoted label `{c}{label}` is not closed; add `{c}`"),
                            ))
                        }
                    }
                }
                tokens.push(Token::Label(label, true));
            }
            c if c.is_whitespace() => {
                chars.next();
            }
            _ => {
                let mut label = String::new();
                while let Some(&c) = chars.peek() {
                    if matches!(c, '[' | ']' | ',' | '"' | '\'') {
                        break;
                    }
                    label.push(c);
                    chars.next();
                }
                let label = label.trim_end();
                if label.contains(char::is_whitespace) {
                    return Err(ResourceError::definition(
                        def,
                        format!("label `{label}` contains a space; quote it: `\"{label}\"`"),
                    ));
                }
                tokens.push(Token::Label(label.to_string(), false));
            }
        }
    }
    Ok(tokens)
}

/// Parses the items of one bracket level starting after `[`; returns labels and the position
/// after the matching `]`.
fn parse_labels(
    def: &str,
    tokens: &[Token],
    mut pos: usize,
) -> Result<(Vec<String>, usize), ResourceError> {
    let mut labels = Vec::new();
    let mut expect_item = true;
    loop {
        match tokens.get(pos) {
            None => {
                return Err(ResourceError::definition(def, "missing `]` at the end"));
            }
            Some(Token::Close) => return Ok((labels, pos + 1)),
            Some(Token::Comma) if expect_item => {
                return Err(ResourceError::definition(
                    def,
                    "empty item between commas; remove the extra `,` or quote an empty label",
                ));
            }
            Some(Token::Comma) => expect_item = true,
            Some(Token::Label(label, quoted)) if expect_item => {
                push_label(def, label, *quoted, &mut labels)?;
                expect_item = false;
            }
            Some(Token::Label(label, _)) => {
                return Err(ResourceError::definition(
                    def,
                    format!("missing `,` before `{label}`"),
                ));
            }
            Some(Token::Open) => {
                return Err(ResourceError::definition(
                    def,
                    "groups cannot be nested deeper than `[[..],[..]]`, and labels and groups \
                     cannot be mixed in one list",
                ));
            }
        }
        pos += 1;
    }
}

/// Adds a label, expanding an unquoted `A-B` with numeric A ≤ B into A..=B.
fn push_label(
    def: &str,
    label: &str,
    quoted: bool,
    out: &mut Vec<String>,
) -> Result<(), ResourceError> {
    if !quoted {
        if let Some((a, b)) = label.split_once('-') {
            if let (Some(a), Some(b)) = (parse_number(a), parse_number(b)) {
                if a <= b {
                    check_size(def, (out.len() as u64) + u64::from(b - a) + 1)?;
                    out.extend((a..=b).map(|i| i.to_string()));
                    return Ok(());
                }
            }
        }
    }
    out.push(label.to_string());
    Ok(())
}

fn parse_brackets(def: &str, t: &str) -> Result<ResourceDescriptorKind, ResourceError> {
    let tokens = tokenize(def, t)?;
    if tokens.first() != Some(&Token::Open) {
        return Err(ResourceError::definition(def, FORMS));
    }
    let (groups, end) = if tokens.get(1) == Some(&Token::Open) {
        let mut groups = Vec::new();
        let mut pos = 1;
        loop {
            let (labels, next) = parse_labels(def, &tokens, pos + 1)?;
            groups.push(labels);
            match tokens.get(next) {
                Some(Token::Comma) if tokens.get(next + 1) == Some(&Token::Open) => pos = next + 1,
                Some(Token::Close) => break (groups, next + 1),
                _ => {
                    return Err(ResourceError::definition(
                        def,
                        "expected `,[` or `]` after a group: write groups as `[[a,b],[c,d]]`",
                    ))
                }
            }
        }
    } else {
        let (labels, next) = parse_labels(def, &tokens, 1)?;
        (vec![labels], next)
    };
    if end != tokens.len() {
        return Err(ResourceError::definition(
            def,
            "unexpected text after the closing `]`",
        ));
    }
    if groups.iter().any(Vec::is_empty) {
        return Err(ResourceError::definition(
            def,
            "the pool or one of its groups is empty; list at least one label in each",
        ));
    }
    let mut all: Vec<&String> = groups.iter().flatten().collect();
    all.sort_unstable();
    if let Some(w) = all.windows(2).find(|w| w[0] == w[1]) {
        return Err(ResourceError::definition(
            def,
            format!(
                "label `{}` occurs more than once; labels must be unique",
                w[0]
            ),
        ));
    }
    Ok(ResourceDescriptorKind::from_groups(groups))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ResourceDescriptorKind as K;

    fn list(items: &[&str]) -> K {
        K::List {
            values: items.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn err(def: &str) -> String {
        parse_resource_definition(def).unwrap_err().to_string()
    }

    #[test]
    fn cpu_forms() {
        assert_eq!(
            parse_cpu_definition("4").unwrap(),
            K::Range { start: 0, end: 3 }
        );
        assert_eq!(
            parse_cpu_definition("2-8").unwrap(),
            K::Range { start: 2, end: 8 }
        );
        assert_eq!(
            parse_cpu_definition("2x2").unwrap().full_description(),
            "[[0,1],[2,3]]"
        );
        assert_eq!(
            parse_cpu_definition("1x3").unwrap(),
            K::Range { start: 0, end: 2 }
        );
        assert_eq!(
            parse_cpu_definition("[[0-3],[4-7]]")
                .unwrap()
                .full_description(),
            "[[0,1,2,3],[4,5,6,7]]"
        );
        assert_eq!(
            parse_cpu_definition("sum(4)"),
            Err(ResourceError::SumForCpus)
        );
        assert!(parse_cpu_definition("0")
            .unwrap_err()
            .to_string()
            .contains("empty"));
        assert!(parse_cpu_definition("8-2")
            .unwrap_err()
            .to_string()
            .contains("`2-8`"));
        assert!(parse_cpu_definition("lots")
            .unwrap_err()
            .to_string()
            .contains("CPU count"));
    }

    #[test]
    fn lists_and_quotes() {
        assert_eq!(
            parse_resource_definition("[a, b,c]").unwrap(),
            list(&["a", "b", "c"])
        );
        assert_eq!(
            parse_resource_definition(r#"["a b", "x,y", 'q]']"#).unwrap(),
            list(&["a b", "x,y", "q]"])
        );
        assert_eq!(
            parse_resource_definition("[1-3, 7]").unwrap(),
            list(&["1", "2", "3", "7"])
        );
        // Quoted, reversed or non-numeric ranges stay opaque labels.
        assert_eq!(
            parse_resource_definition(r#"["1-3", 5-4, a-b]"#).unwrap(),
            list(&["1-3", "5-4", "a-b"])
        );
        assert_eq!(
            parse_resource_definition("list(1,2,3)").unwrap(),
            list(&["1", "2", "3"])
        );
        assert_eq!(
            parse_resource_definition("[[0,1,2]]").unwrap(),
            list(&["0", "1", "2"])
        );
        assert_eq!(
            parse_resource_definition("[GPU-1ab, GPU-2cd]").unwrap(),
            list(&["GPU-1ab", "GPU-2cd"])
        );
    }

    #[test]
    fn groups_ranges_sums() {
        assert_eq!(
            parse_resource_definition("[[0,1,2], [3,4]]").unwrap(),
            K::Groups {
                groups: vec![
                    vec!["0".into(), "1".into(), "2".into()],
                    vec!["3".into(), "4".into()]
                ]
            }
        );
        assert_eq!(
            parse_resource_definition("range(1-3)").unwrap(),
            K::Range { start: 1, end: 3 }
        );
        assert_eq!(
            parse_resource_definition("indices(1-3)").unwrap(),
            K::Range { start: 1, end: 3 }
        );
        assert_eq!(
            parse_resource_definition("sum(1_000.5)").unwrap(),
            K::Sum {
                size: ResourceAmount::new(1000, 5000)
            }
        );
        assert_eq!(
            parse_resource_definition("2x3").unwrap().full_description(),
            "[[0,1,2],[3,4,5]]"
        );
    }

    #[test]
    fn errors_name_the_text_and_the_fix() {
        assert!(err("[]").contains("empty"));
        assert!(err("[[0],[]]").contains("empty"));
        assert!(err("sum(0)").contains("empty"));
        assert!(err("0x4").contains("empty"));
        assert!(err("[a,a]").contains("label `a` occurs more than once"));
        assert!(err("[[0,1],[1]]").contains("label `1`"));
        assert!(err("[a,,b]").contains("empty item"));
        assert!(err("[a b]").contains(r#"quote it: `"a b"`"#));
        assert!(err("[a").contains("missing `]`"));
        assert!(err("[a]x").contains("after the closing"));
        assert!(err("[[a],b]").contains("`,[`"));
        assert!(err("[a,[b]]").contains("mixed"));
        assert!(err(r#"["a]"#).contains("not closed"));
        assert!(err("range(3-1)").contains("range(1-3)"));
        assert!(err("range(a-b)").contains("integers"));
        assert!(err("range(0-4000000000)").contains("at most"));
        assert!(err("4").contains("range(0-3)"));
        assert!(err("nonsense").starts_with("invalid resource definition `nonsense`: expected"));
        assert!(err("sum(0.00001)").starts_with("Resource precision exceeded"));
    }

    #[test]
    fn flags_and_names() {
        assert_eq!(
            parse_resource_flag("gpus/nvidia=[0,1]").unwrap(),
            ("gpus/nvidia".to_string(), list(&["0", "1"]))
        );
        assert_eq!(
            parse_resource_flag("cpus=4").unwrap().1,
            K::Range { start: 0, end: 3 }
        );
        assert_eq!(
            parse_resource_flag("cpus=sum(4)"),
            Err(ResourceError::SumForCpus)
        );
        assert!(parse_resource_flag("gpus")
            .unwrap_err()
            .to_string()
            .contains("NAME=DEFINITION"));
        for bad in ["1gpu", "", "a_b", "a-b", "a b"] {
            assert_eq!(
                validate_name(bad),
                Err(ResourceError::InvalidName(bad.into()))
            );
        }
        assert!(validate_name("gpus/amd").is_ok());
    }
}
