#!/usr/bin/env bash
# Runs every check and test of the project, as CI does. Installs what the tests need on a
# clean Debian machine that has only the Rust toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v taskset >/dev/null 2>&1 || need_apt+=(util-linux)
command -v bash >/dev/null 2>&1 || need_apt+=(bash)
# The dashboard's end-to-end test drives `hq dashboard` in a real terminal.
command -v tmux >/dev/null 2>&1 || need_apt+=(tmux)
# The `hwloc` feature links libhwloc (found through pkg-config) and, through it, libudev.
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
pkg-config --exists hwloc 2>/dev/null || need_apt+=(libhwloc-dev)
pkg-config --exists libudev 2>/dev/null || need_apt+=(libudev-dev)
if [ ${#need_apt[@]} -gt 0 ] && [ "$(id -u)" = 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${need_apt[@]}"
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true
shared=${HQ_SHARED_DIR:-../shared}

# A real single-node Slurm for the autoalloc tests (they also need python3 for the PBS
# stand-in). As root it is started here and stopped on exit, and the Slurm tests must not skip;
# elsewhere they skip with a message.
if [ "$(id -u)" = 0 ]; then
  echo "== Slurm (single node, for the autoalloc tests)"
  [ -f "$shared/slurm/start-slurm.sh" ] || { echo "error: $shared/slurm/start-slurm.sh not found (set HQ_SHARED_DIR)" >&2; exit 1; }
  trap 'bash "$shared/slurm/stop-slurm.sh" >/dev/null 2>&1 || true' EXIT
  # More CPUs than the machine has, so concurrent tests' allocations do not wait for each other.
  SLURM_LOCAL_CPUS=${SLURM_LOCAL_CPUS:-8} bash "$shared/slurm/start-slurm.sh"
  export HQ_REQUIRE_SLURM=1
fi

echo "== cargo fmt --check"
cargo fmt --check
echo "== cargo clippy (the crate and the Python package's native module)"
cargo clippy --locked --workspace --all-targets -- -D warnings
echo "== cargo test"
cargo test --locked --all-targets
echo "== python: the hyperqueue package (maturin + PyO3) and its pytest suite"
venv=target/python-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
# Snakemake and its cluster-generic executor: python/tests/test_workflows.py runs a workflow.
"$venv/bin/python" -m pip install -q --disable-pip-version-check pytest snakemake \
  snakemake-executor-plugin-cluster-generic
# `pip install ./python` is what users run (a release build); the dev profile reuses what
# `cargo test` just compiled.
MATURIN_PEP517_ARGS="--profile dev" "$venv/bin/python" -m pip install -q --disable-pip-version-check ./python
# Servers and workers of the tests run the binary cargo built (LocalCluster's own default,
# `python -m hyperqueue`, is tested too).
HQ_TEST_BINARY="$PWD/target/debug/hq" "$venv/bin/python" -m pytest -q -p no:cacheprovider python/tests
echo "== cargo clippy/test --features hwloc (library only)"
cargo clippy --locked --features hwloc --lib -- -D warnings
cargo test --locked --features hwloc --lib
echo "== conformance: the original HyperQueue's CLI suite, with the expected failures"
[ -x "$shared/hq-conformance/run.sh" ] || { echo "error: $shared/hq-conformance/run.sh not found (set HQ_SHARED_DIR)" >&2; exit 1; }
cargo build --locked --release
# A work folder per checkout, so parallel checkouts do not share one.
export CONFORMANCE_DIR=${CONFORMANCE_DIR:-$PWD/target/conformance}
"$shared/hq-conformance/run.sh" target/release/hq --expected tests/hq-conformance/expected-failures.txt
