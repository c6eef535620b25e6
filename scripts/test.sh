#!/usr/bin/env bash
# Runs every check and test of the project, as CI does. Installs what the tests need on a
# clean Debian machine that has only the Rust toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v taskset >/dev/null 2>&1 || need_apt+=(util-linux)
command -v bash >/dev/null 2>&1 || need_apt+=(bash)
if [ ${#need_apt[@]} -gt 0 ] && [ "$(id -u)" = 0 ]; then
  apt-get update -qq && apt-get install -y -qq "${need_apt[@]}"
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true

echo "== cargo fmt --check"
cargo fmt --check
echo "== cargo clippy"
cargo clippy --locked --all-targets -- -D warnings
echo "== cargo test"
cargo test --locked --all-targets
