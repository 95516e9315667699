-- wrk script for bench/directory_search.sh: the long tail. Every request asks for
-- two words drawn at random from the seeded vocabulary (3,600 pairs, in either
-- order), so most requests miss the search cache and measure the database work;
-- one in four also filters by a random clinical area. Prints the same RESULT line
-- as rotate.lua.
local words = {
  "viet", "dong", "song", "truong", "phat", "minh", "hoa", "phuong", "dai", "hong",
  "tam", "thanh", "binh", "sao", "lac", "hai", "thai", "ngoc", "kim", "thinh",
  "quang", "duc", "nhat", "hung", "bao", "tien", "hoang", "phuc", "xuan", "long",
  "nexa", "medi", "radi", "cardio", "lumen", "sono", "neuro", "opti", "pulse", "vita",
  "qure", "deep", "onco", "path", "iris", "helix", "vision", "scan", "logic", "wave",
  "lao", "tim", "than", "phim", "sang", "chan", "doan", "kidney", "risk", "imaging",
}
local areas = {
  "tuberculosis_screening", "cardiovascular_risk", "nutrition_counselling",
  "acute_kidney_injury", "respiratory_distress", "virtual_assistant", "radiology", "other",
}
local threads = 0

function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

function init(args)
  math.randomseed(os.time() * 100 + (id or 0))
end

function request()
  local path = "/api/v1/directory?q=" .. words[math.random(#words)] .. "%20" .. words[math.random(#words)]
  if math.random(4) == 1 then
    path = path .. "&clinical_area=" .. areas[math.random(#areas)]
  end
  return wrk.format("GET", path)
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
