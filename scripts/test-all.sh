#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what the tests drive for real (Mono + five nuget.exe
# versions, Chromium + ChromeDriver, aiosmtpd), starts a throwaway PostgreSQL cluster and S3 server,
# then formatting, lints, every crate's tests (the server's integration tests once on SQLite and once on
# PostgreSQL), a bounded fuzzing run, and the instruction-count guard on the restore path.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export RUST_BACKTRACE=0
# A clean CI build gains nothing from incremental state, which is gigabytes of disk.
if [ -n "${CI:-}" ]; then export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"; fi

# The build, the PostgreSQL cluster and the fuzz corpora need about 10 GB; a full disk shows up much
# later as a PostgreSQL crash that fails every test after it, so say it here.
free_kb=$(df -Pk . /tmp | awk 'NR > 1 { print $4 }' | sort -n | head -n 1)
echo "==> free disk: $((free_kb / 1024 / 1024)) GB"
if [ "$free_kb" -lt $((6 * 1024 * 1024)) ]; then
  echo "test-all.sh: less than 6 GB free on $(pwd) or /tmp; the suite needs about 10 GB" >&2
  exit 1
fi

scripts/install-test-deps.sh
export NUGATE_TEST_CLIENTS="$PWD/.test-deps"

env_file=$(mktemp)
scripts/services.sh start >"$env_file"
# shellcheck disable=SC1090
source "$env_file"
rm -f "$env_file"
trap 'scripts/services.sh stop "$NUGATE_TEST_SERVICES_DIR"' EXIT

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "==> cargo test (SQLite)"
cargo test --workspace
echo "==> cargo test (PostgreSQL): every server integration test again"
NUGATE_TEST_DB=postgres cargo test -p nugate --test it
echo "==> fuzz smoke run"
scripts/fuzz-smoke.sh "${NUGATE_FUZZ_SECONDS:-15}"
echo "==> instruction-count guard: a cached read may cost at most 10 % more than bench/instructions-per-read"
scripts/instruction-guard.sh
echo "==> the guard's self-test: a deliberately slowed build must fail it"
scripts/instruction-guard.sh --selftest
echo "==> all tests passed"
