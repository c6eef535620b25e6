//! `#HQ` directives in submitted scripts (cli.md "Directives"): options written in the script
//! (`#HQ --cpus 4`) before its first command line, merged with the command line's, and the
//! script's shebang prepended to the command.

use super::submit::SubmitOpts;
use super::CliError;
use clap::Parser;

/// Only the beginning of a script is searched for directives.
const MAX_READ: usize = 32 * 1024;

#[derive(Parser, Debug)]
#[command(
    name = "#HQ",
    no_binary_name = true,
    disable_help_flag = true,
    disable_version_flag = true
)]
struct DirectiveArgs {
    #[command(flatten)]
    opts: SubmitOpts,
}

/// What the head of a script says: the shebang's words and the `#HQ` words.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ScriptHead {
    pub shebang: Vec<String>,
    pub words: Vec<String>,
}

/// Parses the directives of a script: `#HQ` lines before the first line that is neither empty
/// nor a comment; double quotes group words.
pub fn parse_head(text: &str) -> ScriptHead {
    let mut head = ScriptHead::default();
    for (i, line) in text.lines().enumerate() {
        if i == 0 {
            if let Some(interpreter) = line.strip_prefix("#!") {
                head.shebang = interpreter.split_whitespace().map(String::from).collect();
                continue;
            }
        }
        let line = line.trim_start();
        if let Some(rest) = line.strip_prefix("#HQ ") {
            head.words.extend(split_words(rest));
        } else if !(line.is_empty() || line.starts_with('#')) {
            break;
        }
    }
    head
}

fn split_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut has_word = false;
    for c in text.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                has_word = true;
            }
            c if c.is_whitespace() && !quoted => {
                if has_word {
                    words.push(std::mem::take(&mut current));
                    has_word = false;
                }
            }
            c => {
                current.push(c);
                has_word = true;
            }
        }
    }
    if has_word {
        words.push(current);
    }
    words
}

/// Applies the script's directives and shebang to the options and command, as `--directives`
/// asks (`auto`: scripts ending in `.sh`; `file`: always; `off`: never).
pub fn apply(
    opts: SubmitOpts,
    command: Vec<String>,
) -> Result<(SubmitOpts, Vec<String>), CliError> {
    let mode = opts.directives.as_str();
    match mode {
        "off" => return Ok((opts, command)),
        "stdin" if !opts.stdin => {
            return Err(CliError::Usage(
                "You have to use `--stdin` when you specify `--directives=stdin`".into(),
            ));
        }
        "stdin" => {
            // No shebang: the script is the data on stdin, not the command.
            let head = parse_head(&String::from_utf8_lossy(super::submit::captured_stdin()?));
            return Ok((with_directives(opts, &head.words)?, command));
        }
        "auto" | "file" => {}
        other => {
            return Err(CliError::Usage(format!(
                "invalid value `{other}` for `--directives`: use auto, file, stdin or off"
            )))
        }
    }
    let Some(script) = command.first() else {
        return Ok((opts, command));
    };
    if mode == "auto" && !script.ends_with(".sh") {
        return Ok((opts, command));
    }
    let data = match std::fs::read(script) {
        Ok(d) => d,
        Err(_) if mode == "auto" => return Ok((opts, command)),
        Err(e) => {
            return Err(CliError::Runtime(format!(
                "cannot read `{script}` for `#HQ` directives: {e}"
            )))
        }
    };
    let head = parse_head(&String::from_utf8_lossy(&data[..data.len().min(MAX_READ)]));
    let command = if head.shebang.is_empty() {
        command
    } else {
        [head.shebang.clone(), command].concat()
    };
    Ok((with_directives(opts, &head.words)?, command))
}

/// Parses directive words and merges them under the command line's options.
fn with_directives(opts: SubmitOpts, words: &[String]) -> Result<SubmitOpts, CliError> {
    if words.is_empty() {
        return Ok(opts);
    }
    let words = super::aliases::rewrite_directive_words(words);
    let invalid = |why: String| {
        CliError::Runtime(format!(
            "You have used invalid parameter(s) after a #HQ directive.\n{why}"
        ))
    };
    let parsed = DirectiveArgs::try_parse_from(&words).map_err(|e| invalid(e.to_string()))?;
    if parsed.opts.directives != SubmitOpts::defaults().directives {
        return Err(invalid(
            "`--directives` only works on the command line (`hq submit --directives ...`), \
             not inside a #HQ directive"
                .into(),
        ));
    }
    Ok(merge(opts, parsed.opts))
}

/// Command-line options win for single values; repeatable ones are merged; array sources from
/// the command line replace the file's.
fn merge(cli: SubmitOpts, file: SubmitOpts) -> SubmitOpts {
    let d = SubmitOpts::defaults();
    let cli_array = cli.array.is_some() || cli.each_line.is_some() || cli.from_json.is_some();
    let pick = |c: String, f: String, default: &str| if c == default { f } else { c };
    SubmitOpts {
        name: cli.name.or(file.name),
        max_fails: cli.max_fails.or(file.max_fails),
        array: if cli_array { cli.array } else { file.array },
        each_line: if cli_array {
            cli.each_line
        } else {
            file.each_line
        },
        from_json: if cli_array {
            cli.from_json
        } else {
            file.from_json
        },
        cpus: cli.cpus.or(file.cpus),
        resources: [file.resources, cli.resources].concat(),
        nodes: if cli.nodes != d.nodes {
            cli.nodes
        } else {
            file.nodes
        },
        time_request: cli.time_request.or(file.time_request),
        time_limit: cli.time_limit.or(file.time_limit),
        weight: cli.weight.or(file.weight),
        priority: if cli.priority != d.priority {
            cli.priority
        } else {
            file.priority
        },
        pin: cli.pin.or(file.pin),
        cwd: cli.cwd.or(file.cwd),
        stdout: cli.stdout.or(file.stdout),
        stderr: cli.stderr.or(file.stderr),
        stream: cli.stream.or(file.stream),
        env: [file.env, cli.env].concat(),
        task_dir: cli.task_dir || file.task_dir,
        crash_limit: pick(cli.crash_limit, file.crash_limit, &d.crash_limit),
        max_retries: if cli.max_retries != d.max_retries {
            cli.max_retries
        } else {
            file.max_retries
        },
        stdin: cli.stdin || file.stdin,
        directives: cli.directives,
        job: cli.job.or(file.job),
        wait: cli.wait || file.wait,
        progress: cli.progress || file.progress,
        on_notify: cli.on_notify.or(file.on_notify),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_directives_before_the_first_command() {
        let head = parse_head("#!/bin/bash -l\n# comment\n  #HQ --cpus 2 --name \"my job\"\n\n#HQ --env A=1\necho hi\n#HQ --priority 5\n");
        assert_eq!(head.shebang, ["/bin/bash", "-l"]);
        assert_eq!(
            head.words,
            ["--cpus", "2", "--name", "my job", "--env", "A=1"]
        );
    }

    #[test]
    fn command_line_wins_and_repeatable_flags_merge() {
        let file = DirectiveArgs::try_parse_from([
            "--cpus",
            "4",
            "--env",
            "A=1",
            "--priority",
            "3",
            "--array",
            "1-3",
        ])
        .unwrap()
        .opts;
        let cli =
            DirectiveArgs::try_parse_from(["--cpus", "2", "--env", "B=2", "--each-line", "x"])
                .unwrap()
                .opts;
        let m = merge(cli, file);
        assert_eq!(m.cpus.as_deref(), Some("2"));
        assert_eq!(m.env, ["A=1", "B=2"]);
        assert_eq!(m.priority, 3);
        assert!(
            m.array.is_none(),
            "array sources of the command line replace the file's"
        );
    }
}
