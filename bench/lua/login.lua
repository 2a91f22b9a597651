-- W3/W4: POST /sessions as user1..userN@bench.test (seeded with one hash of BENCH_PASSWORD),
-- round robin, so no account is logged in twice in a row and the probe's user never is.
local accounts = tonumber(os.getenv("BENCH_ACCOUNTS") or "1000")
local password = os.getenv("BENCH_PASSWORD") or "bench-password"
local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
local n = 0

request = function()
  n = n + 1
  local body = "email=user" .. ((n - 1) % accounts + 1) .. "%40bench.test&password=" .. password
  return wrk.format("POST", "/sessions", headers, body)
end
