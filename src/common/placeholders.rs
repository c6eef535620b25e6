//! `%{NAME}` placeholders in cwd, stdout, stderr and stream paths (tasks.md "Placeholders").

/// Names `hq` knows; anything else is kept verbatim and warned about at submit.
pub const KNOWN: &[&str] = &[
    "JOB_ID",
    "TASK_ID",
    "INSTANCE_ID",
    "SUBMIT_DIR",
    "SERVER_UID",
    "CWD",
    "JOB_NAME",
];

/// Replaces every `%{NAME}` for which `value` returns `Some`, keeping the others as written.
pub fn fill(text: &str, mut value: impl FnMut(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("%{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                let name = &after[..end];
                match value(name) {
                    Some(v) => out.push_str(&v),
                    None => {
                        out.push_str("%{");
                        out.push_str(name);
                        out.push('}');
                    }
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// The placeholder names used in `text`.
pub fn names(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    fill(text, |name| {
        found.push(name.to_string());
        None
    });
    found
}

/// Names used in `text` that `hq` does not know.
pub fn unknown(text: &str) -> Vec<String> {
    names(text)
        .into_iter()
        .filter(|n| !KNOWN.contains(&n.as_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_known_and_keeps_unknown() {
        let r = fill("%{CWD}/job-%{JOB_ID}/%{TASK_ID}.%{X}", |n| match n {
            "CWD" => Some("/w".into()),
            "JOB_ID" => Some("3".into()),
            "TASK_ID" => Some("7".into()),
            _ => None,
        });
        assert_eq!(r, "/w/job-3/7.%{X}");
        assert_eq!(unknown("%{JOB_ID}%{FOO}"), vec!["FOO".to_string()]);
    }
}
