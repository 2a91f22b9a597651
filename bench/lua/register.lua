-- W5: POST /users with a new address each time (unique per run, per wrk thread, per request).
local run = os.getenv("BENCH_RUN") or tostring(os.time())
local password = os.getenv("BENCH_PASSWORD") or "bench-password"
local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
local n = 0
local id = tostring(math.random(1, 1000000000))

request = function()
  n = n + 1
  local body = "email=reg-" .. run .. "-" .. id .. "-" .. n .. "%40bench.test&password=" .. password
  return wrk.format("POST", "/users", headers, body)
end
