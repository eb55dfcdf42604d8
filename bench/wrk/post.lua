-- POST a fixed form body. Environment: WRK_BODY (the form), WRK_AUTH (an Authorization header
-- value, optional), WRK_SAVE (optional: file prefix; each thread appends the access_token of
-- every 200 answer to PREFIX.<thread>, used to mint the distinct-token set; WRK_SAVE_FIELD names
-- another field to save instead, such as device_code).
-- WRK_DELAY_MS (optional) waits between requests on each connection: a low-rate probe.
wrk.method = "POST"
wrk.body = os.getenv("WRK_BODY") or ""
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
local auth = os.getenv("WRK_AUTH")
if auth and auth ~= "" then
  wrk.headers["Authorization"] = auth
end

local save = os.getenv("WRK_SAVE")
local save_field = os.getenv("WRK_SAVE_FIELD") or "access_token"
local delay_ms = tonumber(os.getenv("WRK_DELAY_MS") or "")
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end

if delay_ms then
  function delay()
    return delay_ms
  end
end

if save and save ~= "" then
  local out
  function response(status, headers, body)
    if status ~= 200 then
      return
    end
    local token = body:match('"' .. save_field .. '"%s*:%s*"([^"]+)"')
    if token then
      out = out or io.open(save .. "." .. id, "a")
      out:write(token, "\n")
      out:flush()
    end
  end
end
