-- wrk script for bench/bench.py.
--
-- With BENCH_BODY set in the environment every request is a POST of that body
-- as application/json; without it wrk sends its default GET. The Authorization
-- header comes from wrk's -H option.
--
-- done() prints one machine-readable line, "BENCH_RESULT {json}", with the
-- request count, duration, error counters and latency percentiles (all times
-- in microseconds). errors.status counts responses with status >= 400, the
-- same counter wrk prints as "Non-2xx or 3xx responses".

local body = os.getenv("BENCH_BODY")
if body ~= nil and body ~= "" then
   wrk.method = "POST"
   wrk.body = body
   wrk.headers["Content-Type"] = "application/json"
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, '
         .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, '
         .. '"timeout": %d}, "latency_us": {"p50": %d, "p90": %d, "p99": %d, '
         .. '"mean": %.1f, "max": %d}}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.mean, latency.max))
end
