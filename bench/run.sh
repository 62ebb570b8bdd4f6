#!/usr/bin/env bash
# nugate benchmark harness: measures every figure in the targets table and writes BENCHMARKS.md.
#
#   bench/run.sh                 full run (about 8-10 minutes on 2 cores once the release build exists)
#
# Knobs (environment): BENCH_SECONDS (wrk duration per run, default 10), BENCH_POPULATE_BUDGET (seconds
# allowed for pushing the 100 000 synthetic versions, default 240), BENCH_POPULATE_TOTAL (default 100000),
# BENCH_INGEST_COUNT (default 2000), BENCH_SKIP_POSTGRES=1, BENCH_OUT (default BENCHMARKS.md at the repo root),
# BENCH_TARGET_DIR (cargo target folder, default /work/target-bench or ../target-bench), BENCH_READ_RATE
# (requests a second of the fixed-rate read mix, default 10000), BENCH_OHA (an oha binary to use).
# Traffic goes to 127.0.0.1 only. Every process this script starts is stopped on exit.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
TARGET=${BENCH_TARGET_DIR:-$(cd "$ROOT/.." && pwd)/target-bench}
SECONDS_PER_RUN=${BENCH_SECONDS:-10}
POPULATE_BUDGET=${BENCH_POPULATE_BUDGET:-240}
POPULATE_TOTAL=${BENCH_POPULATE_TOTAL:-100000}
INGEST_COUNT=${BENCH_INGEST_COUNT:-2000}
OUT=${BENCH_OUT:-$ROOT/BENCHMARKS.md}
PY=${PYTHON:-python3}
export PYTHONDONTWRITEBYTECODE=1
T_START=$(date +%s)

log() { printf '[bench %4ss] %s\n' "$(($(date +%s) - T_START))" "$*" >&2; }

# ---------------------------------------------------------------- tools (idempotent installs)
need_apt=()
command -v wrk >/dev/null || need_apt+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need_apt+=(nginx-light)
command -v ps >/dev/null || need_apt+=(procps)
command -v curl >/dev/null || need_apt+=(curl)
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "${BENCH_SKIP_POSTGRES:-}" ] && { [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ]; }; then
  need_apt+=(postgresql)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  log "installing ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null; }
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
# oha: the read mix at a fixed rate, for latency at a stated load (wrk only runs flat out). Built with
# the system's OpenSSL (it does not build without a TLS library; its default, aws-lc, needs cmake).
OHA=${BENCH_OHA:-$TARGET/oha/bin/oha}
if [ ! -x "$OHA" ]; then
  dpkg -s libssl-dev pkg-config >/dev/null 2>&1 || {
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends libssl-dev pkg-config >/dev/null
  }
  log "installing oha (load generator with a rate limit) into $TARGET/oha"
  cargo install -q --locked oha --version 1.16.0 --no-default-features --features native-tls \
    --root "$TARGET/oha" >&2
fi
READ_RATE=${BENCH_READ_RATE:-10000}

# ---------------------------------------------------------------- build
NUGATE_NOAUDIT=""
if [ -z "${BENCH_SKIP_AUDIT_COST:-}" ] && [ -z "${BENCH_NUGATE:-}" ]; then
  # Built first and copied aside: the real build below then rebuilds only the nugate crate.
  log "building nugate without audit recording (the audit-cost comparison only)"
  (cd "$ROOT" && CARGO_TARGET_DIR=$TARGET cargo build --release -p nugate -q --features bench-without-audit)
  cp "$TARGET/release/nugate" "$TARGET/nugate-noaudit"
  NUGATE_NOAUDIT=$TARGET/nugate-noaudit
fi
if [ -n "${BENCH_NUGATE:-}" ]; then
  NUGATE=$BENCH_NUGATE   # a pre-built server binary (harness testing only)
else
  log "building nugate (release) into $TARGET"
  (cd "$ROOT" && CARGO_TARGET_DIR=$TARGET cargo build --release -p nugate -q)
  NUGATE=$TARGET/release/nugate
fi
KEYCHECK=""
if [ -z "${BENCH_SKIP_KEYCHECK:-}" ]; then
  log "building the key-check micro-benchmark"
  # Its own workspace; the main lock file keeps its dependency versions (and so the shared build
  # artefacts in $TARGET) identical to the server's.
  cp "$ROOT/Cargo.lock" "$BENCH_DIR/keycheck/Cargo.lock"
  (cd "$BENCH_DIR/keycheck" && CARGO_TARGET_DIR=$TARGET cargo build --release -q)
  KEYCHECK=$TARGET/release/nugate-bench-keycheck
fi

# ---------------------------------------------------------------- work area and cleanup
WORK=$(mktemp -d /tmp/nugate-bench.XXXXXX)
chmod 755 "$WORK"
RES=$WORK/results
mkdir -p "$RES"
PIDS=()
PG_DATA=""
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$PG_DATA" ] && [ -d "$PG_DATA" ]; then
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null 2>&1 || true
  fi
  if [ -z "${BENCH_KEEP:-}" ]; then rm -rf "$WORK"; else log "kept $WORK"; fi
}
trap cleanup EXIT

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
wait_live() {
  local port=$1 i
  for i in $(seq 500); do
    curl -fs -o /dev/null "http://127.0.0.1:$port/health/live" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

# run_wrk NAME PORT CONNECTIONS PATHS_FILE [METHOD] [KEY]: writes $RES/NAME.json (+ server CPU when SERVER_PID set)
run_wrk() {
  local name=$1 port=$2 conns=$3 paths=$4 method=${5:-GET} key=${6:-}
  local first
  first=$(head -n 1 "$paths")
  local c0=0 c1=0
  [ -n "${SERVER_PID:-}" ] && c0=$(cpu_ticks "$SERVER_PID")
  BENCH_PATHS=$paths BENCH_METHOD=$method BENCH_KEY=$key ${PIN_WRK:-} \
    wrk -t"${WRK_THREADS:-2}" -c"$conns" -d"${SECONDS_PER_RUN}s" --timeout 10s -s "$BENCH_DIR/wrk.lua" \
    "http://127.0.0.1:$port$first" >"$RES/$name.wrk.txt" 2>&1
  [ -n "${SERVER_PID:-}" ] && c1=$(cpu_ticks "$SERVER_PID")
  grep '^JSON ' "$RES/$name.wrk.txt" | sed 's/^JSON //' >"$RES/$name.json"
  "$PY" - "$RES/$name.json" "$((c1 - c0))" "$conns" "$method" <<'EOF'
import json, sys
path, ticks, conns, method = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
d = json.load(open(path))
d["connections"] = conns
d["method"] = method
if ticks:
    d["server_cpu_s"] = ticks / 100.0
    d["server_cpu_us_per_req"] = round(ticks / 100.0 * 1e6 / max(d["requests"], 1), 1)
json.dump(d, open(path, "w"))
EOF
  log "  $name: $(cat "$RES/$name.json")"
}

# run_oha NAME URLS_FILE: the URLs (picked at random) at READ_RATE requests a second over 64 connections,
# each request timed from when it was due (--latency-correction), so a stall counts in full; writes
# $RES/NAME.json with the same fields as run_wrk.
run_oha() {
  local name=$1 urls=$2
  "$OHA" -z "${SECONDS_PER_RUN}s" -c 64 -q "$READ_RATE" --latency-correction --no-tui \
    --output-format json --urls-from-file "$urls" >"$RES/$name.oha.json" 2>"$RES/$name.oha.err"
  "$PY" - "$RES/$name.oha.json" "$RES/$name.json" "$READ_RATE" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
p, s = d["latencyPercentiles"], d["summary"]
codes = {int(k): v for k, v in d.get("statusCodeDistribution", {}).items()}
out = {
    "rate": float(sys.argv[3]), "rps": s["requestsPerSec"], "requests": sum(codes.values()),
    "p50_ms": p["p50"] * 1e3, "p99_ms": p["p99"] * 1e3, "p999_ms": p["p99.9"] * 1e3,
    "max_ms": s["slowest"] * 1e3, "non2xx": sum(v for k, v in codes.items() if not 200 <= k < 300),
    # Requests still under way when the run's time is up are aborted by oha: not the server's errors.
    "errors": sum(v for k, v in d.get("errorDistribution", {}).items() if "deadline" not in k),
}
json.dump(out, open(sys.argv[2], "w"))
EOF
  log "  $name: $(cat "$RES/$name.json")"
}

# ---------------------------------------------------------------- machine
{
  echo "{"
  echo "\"nproc\": $(nproc),"
  echo "\"cpu\": \"$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo | sed 's/"/ /g')\","
  echo "\"mem_total_mb\": $(awk '/^MemTotal/ {print int($2/1024)}' /proc/meminfo),"
  echo "\"kernel\": \"$(uname -r)\","
  echo "\"date\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\","
  echo "\"commit\": \"$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)\","
  echo "\"dirty\": $(cd "$ROOT" && [ -n "$(git status --porcelain -- crates 2>/dev/null)" ] && echo true || echo false),"
  echo "\"wrk\": \"$(wrk -v 2>&1 | head -n 1 | sed 's/"/ /g')\","
  echo "\"nginx\": \"$("$NGINX" -v 2>&1 | sed 's/"/ /g')\","
  echo "\"postgres\": \"$([ -n "$PG_BIN" ] && "$PG_BIN/postgres" --version | sed 's/"/ /g')\","
  echo "\"loadavg_start\": \"$(cut -d' ' -f1-3 /proc/loadavg)\","
  echo "\"seconds_per_run\": $SECONDS_PER_RUN"
  echo "}"
} >"$RES/machine.json"

# ---------------------------------------------------------------- PostgreSQL (throwaway cluster)
PG_URL=""
if [ -z "${BENCH_SKIP_POSTGRES:-}" ]; then
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  mkdir -p "$WORK/pg" && chown postgres "$WORK/pg" && chmod 700 "$WORK/pg"
  PG_PORT=$(free_port)
  runuser -u postgres -- "$PG_BIN/initdb" -D "$WORK/pg/data" --auth=trust -U postgres >"$WORK/initdb.log" 2>&1
  PG_DATA=$WORK/pg/data
  # Default durability settings: the comparison with SQLite (WAL, synchronous=NORMAL or FULL) stays honest.
  runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$WORK/pg/log" -w \
    -o "-p $PG_PORT -k $WORK/pg -h 127.0.0.1 -c max_connections=200" start >/dev/null
  PG_URL=postgres://postgres@127.0.0.1:$PG_PORT/postgres
  log "PostgreSQL on port $PG_PORT"
fi

# ---------------------------------------------------------------- one backend
# bench_backend NAME DATABASE_URL(or empty for SQLite) POPULATE(0/1)
bench_backend() {
  local name=$1 db_url=$2 populate=$3
  local data=$WORK/data-$name
  local dbflag=()
  [ -n "$db_url" ] && dbflag=(--database-url "$db_url")
  log "== $name"
  echo 'long bench password' | "$NUGATE" --data-dir "$data" "${dbflag[@]}" user create bench \
    --email bench@example.com --password-stdin >/dev/null 2>"$WORK/$name-cli.log"
  local key
  key=$("$NUGATE" --data-dir "$data" "${dbflag[@]}" key create --user bench --name b --scope push \
    --scope unlist --glob '*' 2>>"$WORK/$name-cli.log" | tail -n 1)

  # Start-up: migrated database, spawn -> first 200 on /health/live, median of 5.
  "$PY" "$BENCH_DIR/tool.py" startup --bin "$NUGATE" --data-dir "$data" ${db_url:+--database-url "$db_url"} \
    --runs 5 >"$RES/$name-startup.json"
  log "  startup: $(cat "$RES/$name-startup.json")"

  local port
  port=$(free_port)
  # Normal request logging (info, a line per request) into a file, as nginx logs below.
  "$NUGATE" serve --listen "127.0.0.1:$port" --data-dir "$data" "${dbflag[@]}" \
    >"$WORK/$name-server.log" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  wait_live "$port" || { log "server did not start"; cat "$WORK/$name-server.log" >&2; exit 1; }
  sleep 2
  local idle_rss
  idle_rss=$(rss_kb "$SERVER_PID")
  local url=http://127.0.0.1:$port

  # Read mix: 10 IDs x 3 versions; flat-container index, one .nupkg, registration index per ID.
  "$PY" "$BENCH_DIR/tool.py" seed --url "$url" --key "$key" --prefix Read.Pkg --ids 10 --versions 3 \
    >"$RES/$name-seed.json"
  : >"$WORK/$name-read.paths"
  local i lid
  for i in $(seq 0 9); do
    lid=read.pkg$i
    {
      echo "/v3-flatcontainer/$lid/index.json"
      echo "/v3-flatcontainer/$lid/1.0.1/$lid.1.0.1.nupkg"
      echo "/v3/registration/$lid/index.json"
    } >>"$WORK/$name-read.paths"
  done
  # Warm-up pass (also checks every path answers 200).
  "$PY" "$BENCH_DIR/tool.py" mirror --url "$url" --root "$WORK/www-$name" $(cat "$WORK/$name-read.paths") \
    >"$RES/$name-mirror.json"
  # nginx serving the very same bytes as static files, with an access log like nugate's request log.
  local nport
  nport=$(free_port)
  mkdir -p "$WORK/nginx-$name/logs"
  cat >"$WORK/nginx-$name/nginx.conf" <<EOF
worker_processes auto;
pid $WORK/nginx-$name/nginx.pid;
error_log $WORK/nginx-$name/logs/error.log warn;
events { worker_connections 4096; }
http {
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  access_log $WORK/nginx-$name/logs/access.log;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  client_body_temp_path $WORK/nginx-$name/body;
  proxy_temp_path $WORK/nginx-$name/proxy;
  fastcgi_temp_path $WORK/nginx-$name/fastcgi;
  uwsgi_temp_path $WORK/nginx-$name/uwsgi;
  scgi_temp_path $WORK/nginx-$name/scgi;
  server { listen 127.0.0.1:$nport; root $WORK/www-$name; }
}
EOF
  "$NGINX" -p "$WORK/nginx-$name" -c "$WORK/nginx-$name/nginx.conf" -g 'daemon off; user root;' \
    >"$WORK/nginx-$name/logs/stdout" 2>&1 &
  local npid=$!
  PIDS+=("$npid")
  for i in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$nport$(head -n 1 "$WORK/$name-read.paths")" && break; sleep 0.05; done
  # Peak RSS sampled every 100 ms while wrk runs.
  local stop=$WORK/$name-stop-sampler
  rm -f "$stop"
  rss_kb "$SERVER_PID" >"$WORK/$name-peak-rss"
  (
    peak=0
    while kill -0 "$SERVER_PID" 2>/dev/null && [ ! -f "$stop" ]; do
      r=$(rss_kb "$SERVER_PID"); [ "${r:-0}" -gt "$peak" ] && peak=$r
      echo "$peak" >"$WORK/$name-peak-rss"
      sleep 0.1
    done
  ) &
  local sampler=$!
  # Three pairs, nugate then nginx each time, so that a swing of the machine shows as spread.
  local run
  for run in 1 2 3; do
    run_wrk "$name-read-nugate-$run" "$port" 64 "$WORK/$name-read.paths"
    SERVER_PID="" run_wrk "$name-read-nginx-$run" "$nport" 64 "$WORK/$name-read.paths"
  done
  touch "$stop"; wait "$sampler" 2>/dev/null || true
  # Latency at a stated load: the same mix at READ_RATE requests a second, three pairs.
  sed "s|^|http://127.0.0.1:$port|" "$WORK/$name-read.paths" >"$WORK/$name-read-nugate.urls"
  sed "s|^|http://127.0.0.1:$nport|" "$WORK/$name-read.paths" >"$WORK/$name-read-nginx.urls"
  for run in 1 2 3; do
    run_oha "$name-rate-nugate-$run" "$WORK/$name-read-nugate.urls"
    run_oha "$name-rate-nginx-$run" "$WORK/$name-read-nginx.urls"
  done
  # What the p99 is made of: one more pair with each server on core 0 as one thread or worker
  # (NUGATE_CONNECTION_THREADS=1, worker_processes 1) and wrk on core 1, so that neither side waits for
  # the other's CPU (SQLite only; needs two cores).
  if [ "$name" = sqlite ] && [ "$(nproc)" -ge 2 ]; then
    local pinport pinpid npinport npinpid
    pinport=$(free_port)
    NUGATE_CONNECTION_THREADS=1 taskset -c 0 "$NUGATE" serve --listen "127.0.0.1:$pinport" \
      --data-dir "$data" "${dbflag[@]}" >"$WORK/$name-pinned.log" 2>&1 &
    pinpid=$!
    PIDS+=("$pinpid")
    wait_live "$pinport" || { log "pinned server did not start"; cat "$WORK/$name-pinned.log" >&2; exit 1; }
    npinport=$(free_port)
    sed -e 's/^worker_processes auto;/worker_processes 1;/' -e "s/nginx.pid;/nginx-pinned.pid;/" \
      -e "s/listen 127.0.0.1:$nport;/listen 127.0.0.1:$npinport;/" \
      "$WORK/nginx-$name/nginx.conf" >"$WORK/nginx-$name/nginx-pinned.conf"
    taskset -c 0 "$NGINX" -p "$WORK/nginx-$name" -c "$WORK/nginx-$name/nginx-pinned.conf" \
      -g 'daemon off; user root;' >>"$WORK/nginx-$name/logs/stdout" 2>&1 &
    npinpid=$!
    PIDS+=("$npinpid")
    for i in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$npinport$(head -n 1 "$WORK/$name-read.paths")" && break; sleep 0.05; done
    WRK_THREADS=1 PIN_WRK="taskset -c 1" SERVER_PID=$pinpid \
      run_wrk "$name-read-nugate-pinned" "$pinport" 64 "$WORK/$name-read.paths"
    WRK_THREADS=1 PIN_WRK="taskset -c 1" SERVER_PID="" \
      run_wrk "$name-read-nginx-pinned" "$npinport" 64 "$WORK/$name-read.paths"
    kill "$pinpid" "$npinpid" 2>/dev/null || true
    wait "$pinpid" "$npinpid" 2>/dev/null || true
  fi
  kill "$npid" 2>/dev/null || true
  wait "$npid" 2>/dev/null || true
  local peak_rss
  peak_rss=$(cat "$WORK/$name-peak-rss")
  echo "{\"idle_kb\": $idle_rss, \"read_peak_kb\": $peak_rss}" >"$RES/$name-rss.json"
  log "  rss: $(cat "$RES/$name-rss.json")"

  # Private feed: the same documents through a second server on the same data with
  # NUGATE_READ_ACCESS=private, read with a read key, right after anonymous reads of the public server;
  # then the same keyed reads while another address (127.0.0.9) floods wrong keys.
  local rkey pport ppid fpid
  rkey=$("$NUGATE" --data-dir "$data" "${dbflag[@]}" key create --user bench --name r --scope read \
    --glob '*' 2>>"$WORK/$name-cli.log" | tail -n 1)
  pport=$(free_port)
  NUGATE_READ_ACCESS=private "$NUGATE" serve --listen "127.0.0.1:$pport" \
    --data-dir "$data" "${dbflag[@]}" >"$WORK/$name-private.log" 2>&1 &
  ppid=$!
  PIDS+=("$ppid")
  wait_live "$pport" || { log "private server did not start"; cat "$WORK/$name-private.log" >&2; exit 1; }
  # Three pairs, anonymous then keyed each time, as for nginx above.
  for run in 1 2 3; do
    run_wrk "$name-read-anon-$run" "$port" 64 "$WORK/$name-read.paths"
    SERVER_PID=$ppid run_wrk "$name-read-keyed-$run" "$pport" 64 "$WORK/$name-read.paths" GET "$rkey"
  done
  "$PY" "$BENCH_DIR/tool.py" flood --url "http://127.0.0.1:$pport" --source 127.0.0.9 \
    --seconds $((SECONDS_PER_RUN + 2)) --concurrency 8 >"$RES/$name-flood.json" &
  fpid=$!
  sleep 1
  SERVER_PID=$ppid run_wrk "$name-read-keyed-flood" "$pport" 64 "$WORK/$name-read.paths" GET "$rkey"
  wait "$fpid" || true
  log "  flood: $(cat "$RES/$name-flood.json")"
  kill "$ppid" 2>/dev/null || true
  wait "$ppid" 2>/dev/null || true

  # Keyed write vs unkeyed read of the same row.
  : >"$WORK/$name-relist.paths"
  : >"$WORK/$name-leaf.paths"
  for i in $(seq 0 9); do
    echo "/api/v2/package/Read.Pkg$i/1.0.1" >>"$WORK/$name-relist.paths"
    echo "/v3/registration/read.pkg$i/1.0.1.json" >>"$WORK/$name-leaf.paths"
  done
  run_wrk "$name-relist-keyed" "$port" 16 "$WORK/$name-relist.paths" POST "$key"
  run_wrk "$name-leaf-unkeyed" "$port" 16 "$WORK/$name-leaf.paths" GET
  # The same relist without a (valid) key: refused at the guard; shows what the guard alone costs.
  run_wrk "$name-relist-nokey" "$port" 16 "$WORK/$name-relist.paths" POST ""

  # Push ingest: small distinct packages, concurrency 8.
  local c0 c1
  c0=$(cpu_ticks "$SERVER_PID")
  "$PY" "$BENCH_DIR/tool.py" ingest --url "$url" --key "$key" --count "$INGEST_COUNT" --concurrency 8 \
    --prefix "Ingest.$name" >"$RES/$name-ingest.json"
  c1=$(cpu_ticks "$SERVER_PID")
  echo "$((c1 - c0))" >"$RES/$name-ingest-cpu-ticks"
  log "  ingest: $(cat "$RES/$name-ingest.json")"

  if [ "$populate" = 1 ]; then
    log "  populating up to $POPULATE_TOTAL versions (budget ${POPULATE_BUDGET}s)"
    "$PY" "$BENCH_DIR/tool.py" populate --url "$url" --key "$key" --total "$POPULATE_TOTAL" \
      --big-id Synth.Big --big-versions 5000 --per-id 5 --concurrency 8 --budget "$POPULATE_BUDGET" \
      >"$RES/$name-populate.json"
    log "  populate: $(cat "$RES/$name-populate.json")"
    sleep 1
    local page
    page=$("$PY" - "$url" <<'EOF'
import json, sys, urllib.request
d = json.load(urllib.request.urlopen(sys.argv[1] + "/v3/registration/synth.big/index.json"))
items = d.get("items", [])
inline = sum(1 for p in items if "items" in p)
print(json.dumps({"pages": len(items), "inline_pages": inline, "count": d.get("count"),
                  "first_page": items[0]["@id"] if items else None}))
EOF
)
    echo "$page" >"$RES/$name-registration-shape.json"
    local page_path
    page_path=$("$PY" -c 'import json,sys,urllib.parse; u=json.loads(sys.argv[1])["first_page"]; print(urllib.parse.urlparse(u).path if u else "/v3/registration/synth.big/index.json")' "$page")
    "$PY" "$BENCH_DIR/tool.py" latency --url "$url" --n 100 --max-seconds 8 \
      "/v3/search?q=synth&take=20" "/v3/search?q=Synth.Lib00000" "/v3/search?q=&take=20" \
      "/v3/search?q=nomatchatall" "/v3/search?q=big&prerelease=true&semVerLevel=2.0.0" \
      "/v3/registration/synth.big/index.json" "$page_path" \
      "/v3-flatcontainer/synth.big/index.json" "/v3-flatcontainer/synth.lib00000/index.json" \
      >"$RES/$name-scale-latency.json"
    log "  scale latency: $(cat "$RES/$name-scale-latency.json")"
    echo "{\"kb\": $(rss_kb "$SERVER_PID")}" >"$RES/$name-rss-after-populate.json"
  fi

  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

# ---------------------------------------------------------------- API-key check micro-benchmark
if [ -n "$KEYCHECK" ]; then
log "key-check micro-benchmark (SQLite)"
# Three runs per backend (each on a fresh database); the report takes the median and shows the spread.
for run in 1 2 3; do
  KEYCHECK_SECONDS=3 "$KEYCHECK" "$WORK/keycheck-sqlite-$run" >"$RES/keycheck-sqlite-$run.json" 2>>"$WORK/keycheck.log"
  log "  $(cat "$RES/keycheck-sqlite-$run.json")"
done
if [ -n "$PG_URL" ]; then
  log "key-check micro-benchmark (PostgreSQL)"
  for run in 1 2 3; do
    runuser -u postgres -- "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "CREATE DATABASE keycheck$run" >/dev/null
    KEYCHECK_SECONDS=3 "$KEYCHECK" "$WORK/keycheck-pg-$run" "postgres://postgres@127.0.0.1:$PG_PORT/keycheck$run" \
      >"$RES/keycheck-postgres-$run.json" 2>>"$WORK/keycheck.log"
    log "  $(cat "$RES/keycheck-postgres-$run.json")"
  done
fi
fi

# ---------------------------------------------------------------- what the audit trail costs a push
# Two fresh SQLite servers, the real build and one that records nothing; five pairs of 1000-push
# ingests (concurrency 8). The report takes the median of the pairs' ratios.
if [ -n "$NUGATE_NOAUDIT" ]; then
  log "audit recording cost (SQLite)"
  declare -A AUDIT_URL AUDIT_PID AUDIT_KEY
  for side in on off; do
    bin=$NUGATE; [ "$side" = off ] && bin=$NUGATE_NOAUDIT
    d=$WORK/data-audit-$side
    echo 'long bench password' | "$bin" --data-dir "$d" user create bench --email bench@example.com \
      --password-stdin >/dev/null 2>>"$WORK/audit-cli.log"
    AUDIT_KEY[$side]=$("$bin" --data-dir "$d" key create --user bench --name b --scope push --glob '*' \
      2>>"$WORK/audit-cli.log" | tail -n 1)
    p=$(free_port)
    "$bin" serve --listen "127.0.0.1:$p" --data-dir "$d" >"$WORK/audit-$side-server.log" 2>&1 &
    AUDIT_PID[$side]=$!
    PIDS+=("${AUDIT_PID[$side]}")
    wait_live "$p" || { log "audit-cost server did not start"; cat "$WORK/audit-$side-server.log" >&2; exit 1; }
    AUDIT_URL[$side]=http://127.0.0.1:$p
  done
  # Five pairs; the order within a pair alternates, so a drift of the machine favours neither side.
  for run in 1 2 3 4 5; do
    order="on off"; [ $((run % 2)) = 0 ] && order="off on"
    for side in $order; do
      "$PY" "$BENCH_DIR/tool.py" ingest --url "${AUDIT_URL[$side]}" --key "${AUDIT_KEY[$side]}" --count 1000 \
        --concurrency 8 --prefix "Audit.$side.$run" >"$RES/audit-$side-$run.json"
      log "  audit $side, run $run: $(cat "$RES/audit-$side-$run.json")"
    done
  done
  for side in on off; do kill "${AUDIT_PID[$side]}" 2>/dev/null || true; wait "${AUDIT_PID[$side]}" 2>/dev/null || true; done
fi

bench_backend sqlite "" 1
if [ -n "$PG_URL" ]; then bench_backend postgres "$PG_URL" 0; fi

# ---------------------------------------------------------------- mirror scale (SQLite)
# A mirror holds far more versions than a company pushes. BENCH_MIRROR_SIZES versions (default 100 000 and
# 1 000 000, ten per ID, marked as cached from an upstream) are written straight into a migrated database;
# then: spawn -> first 200 on a version list (answered from the database until the feed index is loaded),
# search (the first search waits for the index) and version-list latency, and resident memory after them.
mirror_scale() {
  local n=$1 d=$WORK/data-mirror-$1 ids last
  ids=$(( (n + 9) / 10 )); last=$(( ids - 13 ))
  echo 'long bench password' | "$NUGATE" --data-dir "$d" user create mirror --email mirror@example.com \
    --password-stdin >/dev/null 2>>"$WORK/mirror-cli.log"
  "$PY" "$BENCH_DIR/tool.py" bulkload --db "$d/nugate.db" --versions "$n" --per-id 10 >"$RES/mirror-$n-load.json"
  log "  mirror $n: $(cat "$RES/mirror-$n-load.json")"
  local first="/v3-flatcontainer/mirror.json.lib000000/index.json"
  local other
  other=$(printf '/v3-flatcontainer/mirror.%s.lib%06d/index.json' sql "$last")
  "$PY" "$BENCH_DIR/tool.py" startup --bin "$NUGATE" --data-dir "$d" --path "$first" --runs 3 \
    >"$RES/mirror-$n-startup.json"
  log "  mirror $n start-up: $(cat "$RES/mirror-$n-startup.json")"
  local port pid
  port=$(free_port)
  "$NUGATE" serve --listen "127.0.0.1:$port" --data-dir "$d" >"$WORK/mirror-$n-server.log" 2>&1 &
  pid=$!; PIDS+=("$pid")
  wait_live "$port"
  "$PY" "$BENCH_DIR/tool.py" latency --url "http://127.0.0.1:$port" --n 100 --max-seconds 10 \
    "/v3/search?q=json&take=20" "/v3/search?q=mirror.sql.lib$(printf %06d "$last")" \
    "/v3/search?q=&take=20" "/v3/search?q=nomatchatall" "/v3/search?q=author%2042&take=20" "$first" "$other" \
    >"$RES/mirror-$n-latency.json"
  log "  mirror $n latency: $(cat "$RES/mirror-$n-latency.json")"
  echo "{\"kb\": $(rss_kb "$pid")}" >"$RES/mirror-$n-rss.json"
  log "  mirror $n resident: $(cat "$RES/mirror-$n-rss.json")"
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
log "mirror scale (SQLite)"
for n in ${BENCH_MIRROR_SIZES:-100000 1000000}; do mirror_scale "$n"; done

T_END=$(date +%s)
echo "{\"total_seconds\": $((T_END - T_START)), \"loadavg_end\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}" >"$RES/run.json"
"$PY" "$BENCH_DIR/report.py" "$RES" >"$OUT"
log "wrote $OUT in $((T_END - T_START)) s"
