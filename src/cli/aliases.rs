//! Rewrites the command-line forms that tutorials and older releases use ("also accept" in the
//! spec) into the canonical ones before clap sees them.

/// Global flags that take a value, so the subcommand can be found after them.
const GLOBAL_WITH_VALUE: &[&str] = &["--server-dir", "--output-mode", "--colors"];

/// Index of the first word that is not a global flag or its value.
fn command_start(args: &[String]) -> usize {
    let mut i = 1;
    while i < args.len() {
        let a = args[i].as_str();
        if GLOBAL_WITH_VALUE.contains(&a) {
            i += 2;
        } else if a.starts_with("--") && (a.contains('=') || a == "--debug") {
            i += 1;
        } else {
            break;
        }
    }
    i
}

pub fn rewrite(mut args: Vec<String>) -> Vec<String> {
    let start = command_start(&args);
    if start >= args.len() {
        return args;
    }
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let rest: Vec<String> = args.split_off(start);
    let first = rest[0].as_str();
    let second = rest.get(1).map(|s| s.as_str());
    let mut new: Vec<String> = match (first, second) {
        ("jobs", Some(filter)) if !filter.starts_with('-') => {
            [s(&["job", "list", "--filter"]), rest[1..].to_vec()].concat()
        }
        ("jobs", _) => [s(&["job", "list"]), rest[1..].to_vec()].concat(),
        ("progress", _) => [s(&["job", "progress"]), rest[1..].to_vec()].concat(),
        ("cancel", _) => [s(&["job", "cancel"]), rest[1..].to_vec()].concat(),
        ("wait", _) => [s(&["job", "wait"]), rest[1..].to_vec()].concat(),
        ("event-log", _) => [s(&["journal"]), rest[1..].to_vec()].concat(),
        ("completion", _) => [s(&["generate-completion"]), rest[1..].to_vec()].concat(),
        ("log", _) | ("output-log", _) => rewrite_output_log(&rest),
        ("job", Some(id))
            if id.chars().next().is_some_and(|c| c.is_ascii_digit()) || id == "last" =>
        {
            [s(&["job", "info"]), rest[1..].to_vec()].concat()
        }
        ("job", Some("submit")) => [s(&["submit"]), rest[2..].to_vec()].concat(),
        ("job", Some("submit-task")) if rest.len() > 2 => {
            [s(&["submit", "--job"]), rest[2..].to_vec()].concat()
        }
        _ => rest,
    };
    if new.first().map(String::as_str) == Some("submit")
        || new.first().map(String::as_str) == Some("run")
    {
        rewrite_submit_flags(&mut new);
    }
    args.extend(new);
    args
}

/// `hq log DIR ...` → `hq output-log DIR ...`; `output-log DIR stdout|stderr ...` → `output-log
/// DIR cat stdout|stderr ...` (the job is then the only one in DIR, or `--job`).
fn rewrite_output_log(rest: &[String]) -> Vec<String> {
    let mut new = vec!["output-log".to_string()];
    new.extend_from_slice(&rest[1..]);
    if matches!(new.get(2).map(String::as_str), Some("stdout" | "stderr")) {
        new.insert(2, "cat".into());
    }
    new
}

/// The same forms in the words of `#HQ` directives (Nextflow's `hq` executor writes
/// `#HQ --log FILE`).
pub fn rewrite_directive_words(words: &[String]) -> Vec<String> {
    let mut args = Vec::with_capacity(words.len() + 1);
    args.push("submit".to_string());
    args.extend_from_slice(words);
    rewrite_submit_flags(&mut args);
    args.split_off(1)
}

/// `--log DIR` → `--stream DIR`; bare `--pin` → `--pin taskset`; stops at the command.
/// `--pin` is bare when what follows is a flag, nothing, or a program (a path or a command on
/// `PATH`); any other word is its value, so `--pin bogus prog` fails as an invalid pin mode
/// instead of running `bogus`.
fn rewrite_submit_flags(args: &mut Vec<String>) {
    let mut i = 1;
    while i < args.len() {
        let a = args[i].clone();
        let a = a.as_str();
        if a == "--" || !a.starts_with('-') {
            break;
        }
        if a == "--log" {
            args[i] = "--stream".into();
        } else if let Some(v) = a.strip_prefix("--log=") {
            args[i] = format!("--stream={v}");
        } else if a == "--pin" {
            let bare = match args.get(i + 1).map(String::as_str) {
                None => true,
                Some("taskset" | "omp") => false,
                Some(next) => next.starts_with('-') || is_program(next),
            };
            if bare {
                args.insert(i + 1, "taskset".into());
            }
        }
        // Skip the value of flags that take one, so a value starting with `-` is not misread.
        if !a.contains('=') && flag_takes_value(a) {
            i += 1;
        }
        i += 1;
    }
}

/// Whether `word` names a program: a path, or an executable found on `PATH`.
fn is_program(word: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    if word.contains('/') {
        return true;
    }
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|dir| {
        std::fs::metadata(dir.join(word))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

fn flag_takes_value(flag: &str) -> bool {
    !matches!(
        flag,
        "--wait" | "--progress" | "--task-dir" | "--stdin" | "--debug" | "--dry-run"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(text: &str) -> String {
        rewrite(text.split(' ').map(String::from).collect()).join(" ")
    }

    #[test]
    fn rewrites_legacy_forms() {
        assert_eq!(r("hq jobs"), "hq job list");
        assert_eq!(r("hq jobs running"), "hq job list --filter running");
        assert_eq!(r("hq progress 1"), "hq job progress 1");
        assert_eq!(r("hq --server-dir x job 5"), "hq --server-dir x job info 5");
        assert_eq!(r("hq cancel 3"), "hq job cancel 3");
        assert_eq!(r("hq job submit-task 4 -- ls"), "hq submit --job 4 -- ls");
        assert_eq!(r("hq submit --pin ./x"), "hq submit --pin taskset ./x");
        assert_eq!(
            r("hq submit --pin sh -c x"),
            "hq submit --pin taskset sh -c x"
        );
        assert_eq!(
            r("hq submit --pin --cpus 2 ls"),
            "hq submit --pin taskset --cpus 2 ls"
        );
        assert_eq!(r("hq submit --pin omp ls"), "hq submit --pin omp ls");
        // Not a pin mode and not a program: left for clap to refuse as a pin mode.
        assert_eq!(
            r("hq submit --pin bogus-mode prog"),
            "hq submit --pin bogus-mode prog"
        );
        assert_eq!(r("hq submit --log d ls"), "hq submit --stream d ls");
        assert_eq!(r("hq submit ls --log d"), "hq submit ls --log d");
        let words = |t: &str| t.split(' ').map(String::from).collect::<Vec<_>>();
        assert_eq!(
            rewrite_directive_words(&words("--log d --pin --cpus 2")),
            words("--stream d --pin taskset --cpus 2")
        );
        assert_eq!(r("hq log d show"), "hq output-log d show");
        assert_eq!(
            r("hq output-log d stdout --task=42"),
            "hq output-log d cat stdout --task=42"
        );
        assert_eq!(r("hq log d stderr"), "hq output-log d cat stderr");
        assert_eq!(
            r("hq output-log d cat 1 stdout"),
            "hq output-log d cat 1 stdout"
        );
    }
}
