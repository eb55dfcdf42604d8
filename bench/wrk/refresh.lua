-- Refresh-token rotation: every answer's refresh_token is the next one of its family, and the
-- one just spent is dead. wrk's request() and response() belong to a thread, not to a
-- connection, so each thread keeps a queue of live tokens (its share of WRK_TOKENS, one per
-- line): a request spends the oldest, its answer queues the new one. A thread whose queue is
-- empty (every token in flight, or lost to a failed rotation) asks GET /healthz instead; done()
-- counts those as starved.
--
-- Environment: WRK_TOKENS (file of refresh tokens, one per line), WRK_THREADS (wrk's -t), WRK_AUTH
-- (the client's Basic Authorization header value).
-- done() prints "Rotations/sec", "Rotation failures" (a refresh answer without a new token) and
-- "Rotations starved" after wrk's summary.
local headers = {
  ["Content-Type"] = "application/x-www-form-urlencoded",
  ["Authorization"] = os.getenv("WRK_AUTH"),
}

local all = {}
for token in io.lines(os.getenv("WRK_TOKENS")) do
  all[#all + 1] = token
end

local threads = {}
function setup(thread)
  threads[#threads + 1] = thread
  thread:set("id", #threads)
end

-- Globals, so that done() can read them from each thread.
rotated = 0
failures = 0
starved = 0

local queue, first, last = {}, 1, 0

function init()
  local stride = tonumber(os.getenv("WRK_THREADS"))
  for i = id, #all, stride do
    last = last + 1
    queue[last] = all[i]
  end
end

function request()
  if last >= first then
    local token = queue[first]
    queue[first] = nil
    first = first + 1
    return wrk.format("POST", "/token", headers, "grant_type=refresh_token&refresh_token=" .. token)
  end
  starved = starved + 1
  return wrk.format("GET", "/healthz")
end

function response(status, headers, body)
  local token = body:match('"refresh_token":"([^"]+)"')
  if token then
    last = last + 1
    queue[last] = token
    rotated = rotated + 1
  elseif body:find('"error"', 1, true) then
    failures = failures + 1
  end
end

function done(summary)
  local total_rotated, total_failures, total_starved = 0, 0, 0
  for _, thread in ipairs(threads) do
    total_rotated = total_rotated + thread:get("rotated")
    total_failures = total_failures + thread:get("failures")
    total_starved = total_starved + thread:get("starved")
  end
  io.write(string.format("Rotations/sec: %.2f\n", total_rotated / (summary.duration / 1e6)))
  io.write(string.format("Rotation failures: %d\n", total_failures))
  io.write(string.format("Rotations starved: %d\n", total_starved))
end
