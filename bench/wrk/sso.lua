-- Single sign-on round trips (issue 11): GET /authorize with a live session cookie answers 303
-- with a code in Location; a later request redeems it at POST /token with the PKCE verifier.
-- No password is sent, so no argon2 runs. wrk's request() and response() belong to a thread, not
-- to a connection, so each thread keeps a queue of codes: a connection that is free redeems a
-- waiting code if there is one, and otherwise asks for a new one.
--
-- Environment: WRK_AUTHORIZE (path and query of the authorization request), WRK_COOKIES (session
-- cookies as NAME=VALUE, space-separated, used in turn), WRK_AUTH (the client's Basic
-- Authorization header value), WRK_REDIRECT_URI, WRK_VERIFIER (the PKCE code_verifier).
-- done() prints "SSO round trips/sec" and "SSO failures" (a 303 without a code, or a token
-- request that did not answer an access token) after wrk's summary.
local function form_encode(s)
  return (s:gsub("[^%w%-%._~]", function(c)
    return string.format("%%%02X", c:byte())
  end))
end

local authorize = os.getenv("WRK_AUTHORIZE")
local cookies = {}
for cookie in (os.getenv("WRK_COOKIES") or ""):gmatch("%S+") do
  cookies[#cookies + 1] = cookie
end
local token_headers = {
  ["Content-Type"] = "application/x-www-form-urlencoded",
  ["Authorization"] = os.getenv("WRK_AUTH"),
}
local token_body = "grant_type=authorization_code&redirect_uri="
  .. form_encode(os.getenv("WRK_REDIRECT_URI"))
  .. "&code_verifier="
  .. form_encode(os.getenv("WRK_VERIFIER"))
  .. "&code="

local threads = {}
function setup(thread)
  threads[#threads + 1] = thread
  thread:set("id", #threads)
end

-- Globals, so that done() can read them from each thread.
redeemed = 0
failures = 0

local codes, first, last = {}, 1, 0
local turn

function request()
  if last >= first then
    local code = codes[first]
    codes[first] = nil
    first = first + 1
    return wrk.format("POST", "/token", token_headers, token_body .. code)
  end
  turn = (turn or id or 0) % #cookies + 1
  return wrk.format("GET", authorize, { ["Cookie"] = cookies[turn] })
end

function response(status, headers, body)
  if status == 303 then
    local location = headers["location"] or headers["Location"] or ""
    local code = location:match("[?&]code=([^&]+)")
    if code then
      last = last + 1
      codes[last] = code
    else
      failures = failures + 1
    end
  elseif status == 200 and body:find('"access_token"', 1, true) then
    redeemed = redeemed + 1
  else
    failures = failures + 1
  end
end

function done(summary, latency, requests)
  local total, failed = 0, 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("redeemed")
    failed = failed + thread:get("failures")
  end
  io.write(string.format("SSO round trips: %d\n", total))
  io.write(string.format("SSO round trips/sec: %.2f\n", total / (summary.duration / 1e6)))
  io.write(string.format("SSO failures: %d\n", failed))
end
