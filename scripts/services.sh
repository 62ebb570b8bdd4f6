#!/usr/bin/env bash
# Throwaway services for the test suite, on random loopback ports inside a temp folder:
#   scripts/services.sh start > env; source env   starts PostgreSQL and an S3 server (moto), prints exports
#   scripts/services.sh stop "$NUGATE_TEST_SERVICES_DIR"
# A PostgreSQL or S3 server already given as NUGATE_TEST_POSTGRES_URL / NUGATE_TEST_S3_ENDPOINT is used as is.
set -euo pipefail

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

case "${1:-}" in
start)
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  python3 -c 'import moto.server' 2>/dev/null || pip install --quiet 'moto[server]' >&2 \
    || pip install --quiet --break-system-packages 'moto[server]' >&2
  dir=$(mktemp -d /tmp/nugate-services.XXXXXX)
  chmod 755 "$dir"
  mkdir "$dir/pg" && chown postgres "$dir/pg" && chmod 700 "$dir/pg"
  echo "export NUGATE_TEST_SERVICES_DIR=$dir"
  if [ -n "${NUGATE_TEST_POSTGRES_URL:-}" ]; then
    echo "export NUGATE_TEST_POSTGRES_URL=$NUGATE_TEST_POSTGRES_URL"
  else
    pg_port=$(free_port)
    # initdb refuses to run as root: run the cluster as the postgres user.
    runuser -u postgres -- "$pg_bin/initdb" -D "$dir/pg/data" --auth=trust -U postgres >"$dir/initdb.log" 2>&1
    runuser -u postgres -- "$pg_bin/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/log" -w \
      -o "-p $pg_port -k $dir/pg -h 127.0.0.1 -c max_connections=400 -c fsync=off -c synchronous_commit=off \
          -c full_page_writes=off -c max_wal_size=256MB -c min_wal_size=64MB" start >/dev/null
    echo "export NUGATE_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:$pg_port/postgres"
  fi
  if [ -n "${NUGATE_TEST_S3_ENDPOINT:-}" ]; then
    echo "export NUGATE_TEST_S3_ENDPOINT=$NUGATE_TEST_S3_ENDPOINT"
  else
    s3_port=$(free_port)
    (cd "$dir" && nohup python3 -m moto.server -H 127.0.0.1 -p "$s3_port" >"$dir/s3.log" 2>&1 & echo $! >"$dir/s3.pid")
    for _ in $(seq 100); do
      python3 -c "import socket; socket.create_connection(('127.0.0.1', $s3_port), 1)" 2>/dev/null && break
      sleep 0.1
    done
    echo "export NUGATE_TEST_S3_ENDPOINT=http://127.0.0.1:$s3_port"
  fi
  ;;
stop)
  dir="${2:?usage: services.sh stop DIR}"
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -f "$dir/s3.pid" ] && kill "$(cat "$dir/s3.pid")" 2>/dev/null || true
  # A crashed cluster (out of disk, killed) fails the tests after it with "recovery mode": say why.
  if [ -f "$dir/pg/log" ] && grep -q -E "PANIC|terminated by signal|No space left" "$dir/pg/log"; then
    echo "services.sh: PostgreSQL crashed during the run; its log says:" >&2
    grep -E "PANIC|terminated by signal|No space left" "$dir/pg/log" | tail -n 5 >&2
  fi
  [ -d "$dir/pg/data" ] && runuser -u postgres -- "$pg_bin/pg_ctl" -D "$dir/pg/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
  ;;
*)
  echo "usage: $0 start | stop DIR" >&2
  exit 2
  ;;
esac
