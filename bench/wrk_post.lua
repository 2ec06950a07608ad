-- POST the body read from the file named after "--" (wrk ... URL -- BODY_FILE [SENDERS]), as application/json.
-- One request string is formatted once per thread and reused, so wrk spends its CPU on the socket.
-- With SENDERS, each request's From_Account is drawn from u0000..u<SENDERS-1> (the body's "u0000" replaced):
-- writes spread over many users instead of meeting on one user's table.
-- done() prints one machine-readable line (latency in microseconds) that bench/_common.py parses.

local req
local spread = {}

function init(args)
  local f = assert(io.open(args[1], "rb"))
  wrk.method = "POST"
  wrk.body = f:read("*a")
  f:close()
  wrk.headers["Content-Type"] = "application/json"
  req = wrk.format()
  for n = 0, (tonumber(args[2]) or 0) - 1 do
    local sender = string.format('"u%04d"', n)
    spread[n + 1] = wrk.format(nil, nil, nil, (wrk.body:gsub('"u0000"', sender)))
  end
end

function request()
  if #spread > 0 then
    return spread[math.random(1, #spread)]
  end
  return req
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"errors_connect":%d,"errors_read":%d,"errors_write":%d,' ..
    '"errors_status":%d,"errors_timeout":%d,"p50_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean, latency.max))
end
