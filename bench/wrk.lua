-- wrk script for bench/run.sh.
--   BENCH_PATHS  file with one request path per line; each thread cycles through them (offset per thread)
--   BENCH_METHOD HTTP method (default GET)
--   BENCH_KEY    when set, sent as X-NuGet-ApiKey
-- done() prints one line "JSON {...}" with throughput, latency percentiles (ms) and error counts.

local paths = {}
for line in io.lines(os.getenv("BENCH_PATHS")) do
  if #line > 0 then paths[#paths + 1] = line end
end
local method = os.getenv("BENCH_METHOD") or "GET"
local key = os.getenv("BENCH_KEY")
local headers = {}
if key and #key > 0 then headers["X-NuGet-ApiKey"] = key end
if method ~= "GET" then headers["Content-Length"] = "0" end

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("offset", counter * 7)
  table.insert(threads, thread)
end

local i = nil
function request()
  if i == nil then i = offset or 0 end
  i = i + 1
  return wrk.format(method, paths[(i % #paths) + 1], headers)
end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    'JSON {"requests": %d, "seconds": %.3f, "rps": %.1f, "bytes": %d, ' ..
    '"p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f, "mean_ms": %.3f, ' ..
    '"non2xx": %d, "connect_err": %d, "read_err": %d, "write_err": %d, "timeout": %d, "paths": %d}\n',
    summary.requests, secs, summary.requests / secs, summary.bytes,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, latency.mean / 1000,
    e.status, e.connect, e.read, e.write, e.timeout, #paths))
end
