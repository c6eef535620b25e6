//! `hq`: parses argv and dispatches; all logic lives in the library.

fn main() {
    let code = hyperqueue::cli::main_with_args(std::env::args().collect());
    std::process::exit(code);
}
