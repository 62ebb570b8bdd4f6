#!/usr/bin/env bash
# The restore path's regression guard: counts the CPU instructions one cached read costs, with
# valgrind (cachegrind, no cache simulation), and fails when that grows by more than 10 % over the
# number committed in bench/instructions-per-read. Instruction counts repeat for the same binary and
# input, unlike timings on a shared machine.
#
#   scripts/instruction-guard.sh             check against the committed number
#   scripts/instruction-guard.sh --update    measure and commit-ready write the number
#   scripts/instruction-guard.sh --selftest  build with extra work per request (feature
#                                            guard-selftest-slowdown) and require the guard to fail
#
# The measured program is crates/nugate/examples/read_batch.rs (release build): nugate in-process on
# one thread, the benchmark's read mix, request logging on. It runs twice, for SMALL and LARGE reads;
# the difference divided by LARGE - SMALL is the cost of one read, start-up and seeding cancelled out.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-check}"
SMALL=500
LARGE=5500
TOLERANCE_PERCENT=10
BASELINE_FILE=bench/instructions-per-read

if ! command -v valgrind >/dev/null; then
  echo "==> installing valgrind (apt)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends valgrind >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends valgrind >/dev/null; }
fi

features=()
[ "$mode" = "--selftest" ] && features=(--features guard-selftest-slowdown)
cargo build --release --quiet -p nugate --example read_batch "${features[@]}"
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
program="$target_dir/release/examples/read_batch"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
instructions() {
  local n=$1
  NUGATE_LOG=info valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
    --log-file="$work/vg-$n" "$program" "$n" >"$work/out-$n" 2>"$work/log-$n" \
    || { echo "read_batch $n failed:"; tail -n 20 "$work/vg-$n" "$work/log-$n"; exit 2; }
  sed -n 's/.*I *refs: *//p' "$work/vg-$n" | tr -d ','
}
small=$(instructions $SMALL)
large=$(instructions $LARGE)
per_read=$(((large - small) / (LARGE - SMALL)))
echo "instructions: $small for $SMALL reads, $large for $LARGE reads: $per_read per cached read"

case "$mode" in
  --update)
    echo "$per_read" >"$BASELINE_FILE"
    echo "wrote $BASELINE_FILE"
    exit 0
    ;;
esac

baseline=$(tr -dc '0-9' <"$BASELINE_FILE")
limit=$((baseline * (100 + TOLERANCE_PERCENT) / 100))
echo "committed: $baseline per read; limit +$TOLERANCE_PERCENT %: $limit"
if [ "$mode" = "--selftest" ]; then
  if [ "$per_read" -gt "$limit" ]; then
    echo "self-test passed: the deliberately slowed build ($per_read per read) is over the limit"
    exit 0
  fi
  echo "self-test FAILED: the deliberately slowed build ($per_read per read) was not caught"
  exit 1
fi
if [ "$per_read" -gt "$limit" ]; then
  echo "FAILED: a cached read now costs $per_read instructions, over $limit (+$TOLERANCE_PERCENT % on $baseline)."
  echo "Find what grew (valgrind --tool=callgrind on $program), or, when the cost is wanted, run"
  echo "scripts/instruction-guard.sh --update and commit $BASELINE_FILE with the reason."
  exit 1
fi
if [ $((per_read * 100)) -lt $((baseline * 80)) ]; then
  echo "note: more than 20 % under the committed number; run --update to lock the gain in"
fi
echo "instruction guard passed"
