#!/usr/bin/env python3
"""Helpers for bench/run.sh: synthetic .nupkg generation, concurrent pushes, start-up timing, latency.

Every sub-command prints one JSON object on stdout. Standard library only.
"""
import argparse
import http.client
import io
import json
import os
import queue
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import zipfile

NUSPEC = (
    '<?xml version="1.0" encoding="utf-8"?>\n'
    '<package xmlns="http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd"><metadata>'
    "<id>{id}</id><version>{version}</version><authors>bench</authors>"
    "<description>{desc}</description><tags>bench synthetic</tags></metadata></package>"
)


def nupkg(pkg_id, version, desc="Synthetic benchmark package"):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(f"{pkg_id}.nuspec", NUSPEC.format(id=pkg_id, version=version, desc=desc))
    return buf.getvalue()


def percentile(sorted_values, p):
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, int(round(p / 100.0 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


class Client:
    """One keep-alive HTTP/1.1 connection, reopened after errors."""

    def __init__(self, host, port):
        self.host, self.port, self.conn = host, port, None

    def request(self, method, path, body=None, headers=None):
        for attempt in range(2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
                self.conn.request(method, path, body=body, headers=headers or {})
                resp = self.conn.getresponse()
                data = resp.read()
                if resp.getheader("connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return resp.status, data
            except (http.client.HTTPException, OSError):
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                if attempt == 1:
                    return 0, b""
        return 0, b""


def push_jobs(url, key, jobs, concurrency, deadline=None, make=None):
    """Pushes every job (bytes, or (id, version) when `make` builds the body) until done or deadline."""
    u = urllib.parse.urlparse(url)
    q = queue.Queue()
    for j in jobs:
        q.put(j)
    lock = threading.Lock()
    statuses = {}
    pushed = [0]

    def worker():
        c = Client(u.hostname, u.port)
        headers = {"X-NuGet-ApiKey": key, "Content-Type": "application/octet-stream"}
        while True:
            if deadline is not None and time.monotonic() > deadline:
                return
            try:
                j = q.get_nowait()
            except queue.Empty:
                return
            body = make(*j) if make else j
            status, _ = c.request("PUT", "/api/v2/package", body=body, headers=headers)
            with lock:
                statuses[status] = statuses.get(status, 0) + 1
                if status == 201:
                    pushed[0] += 1

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    return {"pushed": pushed[0], "seconds": round(elapsed, 3),
            "per_second": round(pushed[0] / elapsed, 1) if elapsed else None,
            "statuses": {str(k): v for k, v in sorted(statuses.items())}}


def cmd_ingest(a):
    # Bodies are built before the clock starts: the figure is the server's, not zipfile's.
    bodies = [nupkg(f"{a.prefix}.Pkg{i}", "1.0.0") for i in range(a.count)]
    r = push_jobs(a.url, a.key, bodies, a.concurrency)
    r["concurrency"] = a.concurrency
    r["body_bytes"] = len(bodies[0])
    print(json.dumps(r))


def cmd_seed(a):
    jobs = [(f"{a.prefix}{i}", f"1.0.{v}") for i in range(a.ids) for v in range(a.versions)]
    r = push_jobs(a.url, a.key, jobs, a.concurrency, make=nupkg)
    print(json.dumps(r))


def cmd_populate(a):
    """The big package's versions first (so it is complete), then IDs of `per_id` versions each,
    until `total` versions exist or the time budget runs out."""
    start = time.monotonic()
    deadline = start + a.budget
    big_n = min(a.big_versions, a.total)
    big = [(a.big_id, f"{v // 1000}.{(v // 10) % 100}.{v % 10}") for v in range(big_n)]
    r1 = push_jobs(a.url, a.key, big, a.concurrency, deadline=deadline, make=nupkg)
    rest = a.total - big_n
    jobs = [(f"Synth.Lib{i // a.per_id:05d}", f"1.{i % a.per_id}.0") for i in range(rest)]
    # Round-robin over IDs so a budget cut leaves whole IDs mostly complete either way.
    r2 = push_jobs(a.url, a.key, jobs, a.concurrency, deadline=deadline, make=nupkg)
    elapsed = time.monotonic() - start
    print(json.dumps({
        "big_id": a.big_id, "big_versions_pushed": r1["pushed"],
        "other_versions_pushed": r2["pushed"], "total_pushed": r1["pushed"] + r2["pushed"],
        "target_total": a.total, "seconds": round(elapsed, 1),
        "per_second": round((r1["pushed"] + r2["pushed"]) / elapsed, 1),
        "statuses_big": r1["statuses"], "statuses_rest": r2["statuses"],
    }))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def cmd_startup(a):
    """Spawn -> first 200 on `--path` (default /health/live), polling every 1 ms; the database is already
    migrated."""
    times = []
    for _ in range(a.runs):
        port = free_port()
        cmd = [a.bin, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", a.data_dir]
        if a.database_url:
            cmd += ["--database-url", a.database_url]
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        elapsed = None
        try:
            while time.perf_counter() - t0 < 60:
                try:
                    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    c.request("GET", a.path)
                    if c.getresponse().status == 200:
                        elapsed = time.perf_counter() - t0
                        c.close()
                        break
                    c.close()
                except OSError:
                    pass
                if p.poll() is not None:
                    break
                time.sleep(0.001)
        finally:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        times.append(None if elapsed is None else round(elapsed * 1000, 1))
    ok = sorted(t for t in times if t is not None)
    print(json.dumps({"runs_ms": times, "median_ms": statistics.median(ok) if ok else None}))


def cmd_latency(a):
    """Sequential GETs on one keep-alive connection; `paths` cycle; per-path p50/p99/max in ms."""
    u = urllib.parse.urlparse(a.url)
    c = Client(u.hostname, u.port)
    out = {}
    for path in a.paths:
        # The first request may render and cache the document (or refresh the feed index): timed apart.
        t0 = time.perf_counter()
        st, body = c.request("GET", path)
        first_ms = (time.perf_counter() - t0) * 1000
        lat = []
        statuses = {}
        path_start = time.perf_counter()
        for _ in range(a.n):
            if time.perf_counter() - path_start > a.max_seconds:
                break
            t0 = time.perf_counter()
            st, body = c.request("GET", path)
            lat.append((time.perf_counter() - t0) * 1000)
            statuses[st] = statuses.get(st, 0) + 1
        lat.sort()
        out[path] = {"n": len(lat), "first_ms": round(first_ms, 2), "p50_ms": round(percentile(lat, 50), 2),
                     "p99_ms": round(percentile(lat, 99), 2), "max_ms": round(lat[-1], 2),
                     "bytes": len(body), "statuses": {str(k): v for k, v in statuses.items()}}
    print(json.dumps(out))


def cmd_mirror(a):
    """Fetches each path from the server and writes the exact bytes under ROOT at the same path."""
    u = urllib.parse.urlparse(a.url)
    c = Client(u.hostname, u.port)
    sizes = {}
    for path in a.paths:
        st, body = c.request("GET", path)
        if st != 200:
            sys.exit(f"mirror: {path} -> {st}")
        dest = os.path.join(a.root, path.lstrip("/"))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with open(dest, "wb") as f:
            f.write(body)
        sizes[path] = len(body)
    print(json.dumps(sizes))


def cmd_flood(a):
    """Wrong keys from another loopback address for a while: what an attacker's guessing looks like to
    the server. Prints the answers it got by status."""
    import collections
    import threading
    host, port = a.url.split("//", 1)[1].split(":")
    deadline = time.time() + a.seconds
    counts = collections.Counter()
    lock = threading.Lock()

    def worker(n):
        conn = None
        i = 0
        while time.time() < deadline:
            i += 1
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(host, int(port), timeout=10,
                                                      source_address=(a.source, 0))
                conn.request("GET", "/v3/index.json",
                             headers={"X-NuGet-ApiKey": f"wrong-{n}-{i}-xxxxxxxxxxxxxxxx"})
                resp = conn.getresponse()
                resp.read()
                status = resp.status
            except (http.client.HTTPException, OSError):
                if conn is not None:
                    conn.close()
                conn, status = None, 0
            with lock:
                counts[status] += 1

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(a.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"by_status": {str(k): v for k, v in sorted(counts.items())},
                      "requests": sum(counts.values()), "seconds": a.seconds, "source": a.source}))


def cmd_nupkg(a):
    sys.stdout.buffer.write(nupkg(a.id, a.version))


def cmd_bulkload(a):
    """Writes `--versions` synthetic versions (`--per-id` per ID, marked as cached from an upstream) straight
    into a migrated SQLite database, as a mirror accumulates them: pushing a million over HTTP would take
    hours and measure ingest, not the mirror."""
    import base64
    import hashlib
    import sqlite3
    t0 = time.perf_counter()
    db = sqlite3.connect(a.db)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    ids = (a.versions + a.per_id - 1) // a.per_id
    now = int(time.time())
    words = ["json", "http", "logging", "testing", "azure", "aws", "graph", "sql", "cache", "crypto",
             "xml", "grpc", "cli", "mvc", "blazor", "orm", "queue", "auth", "image", "pdf"]
    db.executemany(
        "INSERT INTO package_registrations (id, package_id, package_id_lower, created_at, changed_seq, upstream) "
        "VALUES (?, ?, ?, ?, ?, 'nuget.org')",
        ((i + 1, f"Mirror.{words[i % 20].title()}.Lib{i:06d}", f"mirror.{words[i % 20]}.lib{i:06d}", now, i + 1)
         for i in range(ids)))

    def rows():
        n = 0
        for i in range(ids):
            for v in range(a.per_id):
                if n >= a.versions:
                    return
                n += 1
                version = f"{v // 10 + 1}.{v % 10}.0"
                digest = base64.b64encode(hashlib.sha512(f"{i}/{version}".encode()).digest()).decode()
                word = words[i % 20]
                yield (i + 1, version, version, version,
                       f"A {word} library for .NET, synthetic package {i} of the mirror-scale benchmark, "
                       f"with a description about as long as a real one.",
                       f"Author {i % 997}", f"{word} dotnet mirror", "", "{}", digest, 20_000 + i % 5000,
                       now - (a.per_id - v) * 86_400, " ")
    db.executemany(
        "INSERT INTO packages (registration_id, version, version_lower, full_version, is_prerelease, is_semver2, "
        "listed, title, description, summary, authors, tags, package_types, metadata_json, package_hash, "
        "package_size, published_at, pushed_by, dependency_ids) "
        "VALUES (?, ?, ?, ?, 0, 0, 1, NULL, ?, NULL, ?, ?, ?, ?, ?, ?, ?, NULL, ?)", rows())
    db.execute("UPDATE feed_changes SET seq = ? WHERE id = 1", (ids,))
    db.commit()
    count = db.execute("SELECT COUNT(*) FROM packages").fetchone()[0]
    db.close()
    print(json.dumps({"versions": count, "ids": ids, "seconds": round(time.perf_counter() - t0, 1)}))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("ingest"); s.add_argument("--url"); s.add_argument("--key")
    s.add_argument("--count", type=int, default=2000); s.add_argument("--concurrency", type=int, default=8)
    s.add_argument("--prefix", default="Ingest"); s.set_defaults(f=cmd_ingest)
    s = sub.add_parser("seed"); s.add_argument("--url"); s.add_argument("--key")
    s.add_argument("--prefix", default="Read.Pkg"); s.add_argument("--ids", type=int, default=10)
    s.add_argument("--versions", type=int, default=3); s.add_argument("--concurrency", type=int, default=4)
    s.set_defaults(f=cmd_seed)
    s = sub.add_parser("populate"); s.add_argument("--url"); s.add_argument("--key")
    s.add_argument("--total", type=int, default=100_000); s.add_argument("--big-id", default="Synth.Big")
    s.add_argument("--big-versions", type=int, default=5000); s.add_argument("--per-id", type=int, default=5)
    s.add_argument("--concurrency", type=int, default=8); s.add_argument("--budget", type=float, default=240)
    s.set_defaults(f=cmd_populate)
    s = sub.add_parser("startup"); s.add_argument("--bin"); s.add_argument("--data-dir")
    s.add_argument("--database-url"); s.add_argument("--runs", type=int, default=5)
    s.add_argument("--path", default="/health/live")
    s.set_defaults(f=cmd_startup)
    s = sub.add_parser("latency"); s.add_argument("--url"); s.add_argument("--n", type=int, default=200)
    s.add_argument("--max-seconds", type=float, default=10)
    s.add_argument("paths", nargs="+"); s.set_defaults(f=cmd_latency)
    s = sub.add_parser("bulkload"); s.add_argument("--db"); s.add_argument("--versions", type=int)
    s.add_argument("--per-id", type=int, default=10); s.set_defaults(f=cmd_bulkload)
    s = sub.add_parser("mirror"); s.add_argument("--url"); s.add_argument("--root")
    s.add_argument("paths", nargs="+"); s.set_defaults(f=cmd_mirror)
    s = sub.add_parser("nupkg"); s.add_argument("id"); s.add_argument("version"); s.set_defaults(f=cmd_nupkg)
    s = sub.add_parser("flood"); s.add_argument("--url"); s.add_argument("--source", default="127.0.0.9")
    s.add_argument("--seconds", type=float, default=10); s.add_argument("--concurrency", type=int, default=8)
    s.set_defaults(f=cmd_flood)
    a = p.parse_args()
    a.f(a)


if __name__ == "__main__":
    main()
