//! `hq doc [TOPIC] [--open]`: the address of the original HyperQueue's documentation page for
//! a topic (its pages describe the commands `hq` accepts), printed or opened in a browser.

use super::{CliError, CliResult};
use clap::{Args, ValueEnum};

const BASE: &str = "https://it4innovations.github.io/hyperqueue";

#[derive(Args, Debug)]
pub struct DocArgs {
    /// The page to show; without it, the start page
    #[arg(value_enum)]
    pub topic: Option<Topic>,
    /// Open the page with `xdg-open` instead of printing its address
    #[arg(long)]
    pub open: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topic {
    #[value(alias = "jobs", alias = "tasks")]
    Job,
    Taskarray,
    Resources,
    #[value(alias = "workers")]
    Worker,
    #[value(alias = "pbs", alias = "slurm")]
    Autoalloc,
    #[value(name = "python-api", alias = "python")]
    PythonApi,
    Cheatsheet,
    Changelog,
    Faq,
}

impl Topic {
    /// The page's path below the version's root.
    fn page(self) -> &'static str {
        match self {
            Topic::Job => "jobs/jobs/",
            Topic::Taskarray => "jobs/arrays/",
            Topic::Resources => "jobs/resources/",
            Topic::Worker => "deployment/worker/",
            Topic::Autoalloc => "deployment/allocation/",
            Topic::PythonApi => "python/",
            Topic::Cheatsheet => "cheatsheet/",
            Topic::Changelog => "changelog/",
            Topic::Faq => "faq/",
        }
    }
}

/// The address of a topic's page for this version.
pub fn url(topic: Option<Topic>) -> String {
    let version = env!("CARGO_PKG_VERSION");
    let page = topic.map(Topic::page).unwrap_or_default();
    format!("{BASE}/v{version}/{page}")
}

pub fn run(args: DocArgs) -> CliResult {
    let url = url(args.topic);
    if !args.open {
        println!("{url}");
        return Ok(());
    }
    match std::process::Command::new("xdg-open").arg(&url).status() {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(CliError::Runtime(format!(
            "`xdg-open {url}` failed ({s}); open the address yourself"
        ))),
        Err(e) => Err(CliError::Runtime(format!(
            "cannot run `xdg-open` to open {url}: {e}; open the address yourself"
        ))),
    }
}
