#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what the tests drive for real (Mono + five nuget.exe
# versions), then formatting, lints, every crate's tests, and a bounded fuzzing run.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export RUST_BACKTRACE=0

scripts/install-test-deps.sh
export NUGATE_TEST_CLIENTS="$PWD/.test-deps"

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "==> cargo test"
cargo test --workspace
echo "==> fuzz smoke run"
scripts/fuzz-smoke.sh "${NUGATE_FUZZ_SECONDS:-15}"
echo "==> all tests passed"
