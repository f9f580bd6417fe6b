-- wrk script for the Bosun API: POST configmaps with unique names (pods when LOAD_KIND=pods), or
-- GET when LOAD_METHOD=GET, and a RESULT line with requests/s, p50 and p99 latency and non-2xx
-- counts.
--   wrk -t2 -c16 -d5s -s scripts/api-load.lua http://127.0.0.1:8080/api/v1/namespaces/default/configmaps
local method = os.getenv("LOAD_METHOD") or "POST"
local kind = os.getenv("LOAD_KIND") or "configmaps"
local prefix = os.getenv("LOAD_PREFIX") or ("w" .. os.time())
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
  thread_id = thread_id + 1
  thread:set("tid", thread_id)
  table.insert(threads, thread)
end

function init(args)
  wrk.method = method
  wrk.headers["Content-Type"] = "application/json"
  failures = 0
end

function request()
  if method == "GET" then return wrk.format("GET") end
  counter = counter + 1
  local name = prefix .. "-t" .. tid .. "-" .. counter
  if kind == "pods" then
    return wrk.format(method, nil, nil, '{"metadata":{"name":"' .. name .. '","labels":{"app":"bench"}},"spec":{"containers":[{"name":"main","image":"nginx:1.27","ports":[{"containerPort":80}],"resources":{"requests":{"cpu":"100m","memory":"64Mi"}}}]}}')
  end
  return wrk.format(method, nil, nil, '{"metadata":{"name":"' .. name .. '"},"data":{"v":"0123456789abcdef0123456789abcdef"}}')
end

function response(status, headers, body)
  if status >= 300 then failures = failures + 1 end
end

function done(summary, latency, requests)
  local failed = 0
  for _, t in ipairs(threads) do failed = failed + (t:get("failures") or 0) end
  io.write(string.format("RESULT requests/s=%.0f p50_ms=%.2f p99_ms=%.2f non2xx=%d errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    failed, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
