-- GET a path with a DPoP-bound token and a fresh proof on every request: reads the file named by
-- WRK_PAIRS (lines "TOKEN PROOF", from bench/dpop-proofs), each thread keeping only its own share
-- (line i goes to thread i mod WRK_THREADS), and sends each proof once. WRK_PATH is the path the
-- proofs name (default /me). A thread that runs out of proofs starts over: those requests are
-- replays, refused by the server, and counted in done() as well as in wrk's non-2xx total.
local path = os.getenv("WRK_PATH") or "/me"
local thread_count = tonumber(os.getenv("WRK_THREADS") or "1")

local threads = {}
function setup(thread)
  threads[#threads + 1] = thread
  thread:set("id", #threads)
end

local pairs_of_thread = {}
local index = 0
exhausted = 0

function init(args)
  local line_number = 0
  for line in io.lines(os.getenv("WRK_PAIRS")) do
    if line ~= "" then
      if line_number % thread_count == (id or 1) - 1 then
        local token, proof = line:match("^(%S+) (%S+)$")
        pairs_of_thread[#pairs_of_thread + 1] = { token, proof }
      end
      line_number = line_number + 1
    end
  end
  if #pairs_of_thread == 0 then
    error("no token/proof pairs for thread " .. tostring(id) .. " in " .. os.getenv("WRK_PAIRS"))
  end
end

local wrapped = false
function request()
  index = index + 1
  if index > #pairs_of_thread then
    index = 1
    wrapped = true
  end
  if wrapped then
    exhausted = exhausted + 1
  end
  local pair = pairs_of_thread[index]
  return wrk.format("GET", path, {
    ["Authorization"] = "DPoP " .. pair[1],
    ["DPoP"] = pair[2],
  })
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + (thread:get("exhausted") or 0)
  end
  io.write(string.format("DPoP proofs reused: %d\n", total))
end
