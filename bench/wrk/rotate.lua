-- POST /introspect with a different token on every request, rotating through the file named by
-- WRK_TOKENS (one token a line). WRK_AUTH is the caller's Basic Authorization header value.
local tokens = {}
for line in io.lines(os.getenv("WRK_TOKENS")) do
  if line ~= "" then
    tokens[#tokens + 1] = line
  end
end
local headers = {
  ["Content-Type"] = "application/x-www-form-urlencoded",
  ["Authorization"] = os.getenv("WRK_AUTH"),
}

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end

local index
function request()
  -- Each thread starts at a different offset so the threads do not move in step.
  index = index or ((id or 1) * 7919) % #tokens
  index = index % #tokens + 1
  return wrk.format("POST", "/introspect", headers, "token=" .. tokens[index])
end
