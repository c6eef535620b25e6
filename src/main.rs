//! `hq`: parses argv and dispatches; all logic lives in the library.

fn main() {
    // Restore default SIGPIPE handling so `hq job list | head` ends quietly.
    // SAFETY: resetting a signal disposition at start-up, before any threads exist.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let code = hyperqueue::cli::main_with_args(std::env::args().collect());
    std::process::exit(code);
}
