-- wrk script for bench/directory_search.sh: sends the request paths listed in
-- the file named by the PATHS environment variable, one per line, in turn
-- (each thread starts at a different line), and prints one RESULT line with
-- the latency percentiles in milliseconds, throughput and every error count.
local paths = {}
local counter = 0
local threads = 0

function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

local function load()
  local name = os.getenv("PATHS")
  assert(name, "set PATHS to a file of request paths")
  for line in io.lines(name) do
    if line ~= "" then paths[#paths + 1] = line end
  end
  assert(#paths > 0, "no paths in " .. name)
end

function init(args)
  load()
  counter = (id or 0) * 7
end

function request()
  counter = counter + 1
  return wrk.format("GET", paths[(counter % #paths) + 1])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d seconds=%.2f rps=%.1f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f " ..
    "err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000,
    e.connect, e.read, e.write, e.status, e.timeout))
end
