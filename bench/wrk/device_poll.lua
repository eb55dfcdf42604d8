-- Polls POST /token with device codes (RFC 8628 section 3.4) that nobody approves: reads the file
-- named by WRK_CODES (one device_code a line), each thread keeping only its own share (line i goes
-- to thread i mod WRK_THREADS), and polls them in turn as WRK_CLIENT. done() counts the answers:
-- authorization_pending (the poll's turn), slow_down (sooner than the code's interval) and any
-- other answer, which is an error.
local client = os.getenv("WRK_CLIENT")
local thread_count = tonumber(os.getenv("WRK_THREADS") or "1")

local threads = {}
function setup(thread)
  threads[#threads + 1] = thread
  thread:set("id", #threads)
end

local codes = {}
local index = 0
pending = 0
slow = 0
other = 0

function init(args)
  local line_number = 0
  for line in io.lines(os.getenv("WRK_CODES")) do
    if line ~= "" then
      if line_number % thread_count == (id or 1) - 1 then
        codes[#codes + 1] = line
      end
      line_number = line_number + 1
    end
  end
  if #codes == 0 then
    error("no device codes for thread " .. tostring(id) .. " in " .. os.getenv("WRK_CODES"))
  end
end

function request()
  index = index % #codes + 1
  local body = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&client_id="
    .. client .. "&device_code=" .. codes[index]
  return wrk.format("POST", "/token", { ["Content-Type"] = "application/x-www-form-urlencoded" }, body)
end

function response(status, headers, body)
  if body:find('"authorization_pending"', 1, true) then
    pending = pending + 1
  elseif body:find('"slow_down"', 1, true) then
    slow = slow + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local p, s, o = 0, 0, 0
  for _, thread in ipairs(threads) do
    p = p + (thread:get("pending") or 0)
    s = s + (thread:get("slow") or 0)
    o = o + (thread:get("other") or 0)
  end
  io.write(string.format("Device polls pending: %d\nDevice polls slow_down: %d\nDevice polls other: %d\n", p, s, o))
end
