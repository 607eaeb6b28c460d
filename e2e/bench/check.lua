-- wrk script for scripts/bench-pages: counts the answers that are not 200 or do not show the
-- text in BENCH_SHOWS (when set), and prints one line the script reads:
--   BENCH requests=N seconds=S rps=R p50=MS p99=MS bad=N errors=N
-- (bad: wrong answers; errors: connection errors and timeouts).

local shows = os.getenv("BENCH_SHOWS")
if shows == "" then shows = nil end
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  bad = 0
end

function response(status, headers, body)
  if status ~= 200 or (shows and not string.find(body, shows, 1, true)) then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local wrong = 0
  for _, thread in ipairs(threads) do
    wrong = wrong + thread:get("bad")
  end
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "BENCH requests=%d seconds=%.2f rps=%.1f p50=%.2f p99=%.2f bad=%d errors=%d\n",
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    wrong, e.connect + e.read + e.write + e.timeout))
end
