//! `hq`: parses argv and dispatches; all logic lives in the library.

/// mimalloc instead of glibc's malloc: the server allocates and frees small buffers for every
/// task (placements, assignments, messages), and glibc's free-list upkeep (`unlink_chunk`,
/// `malloc_consolidate`) grew with the number of tasks in flight (see benchmarks/README.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // Restore default SIGPIPE handling so `hq job list | head` ends quietly.
    // SAFETY: resetting a signal disposition at start-up, before any threads exist.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let code = hyperqueue::cli::main_with_args(std::env::args().collect());
    std::process::exit(code);
}
