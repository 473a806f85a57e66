-- POST /v1/admin/orders/{id}/fulfil once for each order id in args[1], as the
-- admin whose token is args[2]; the thread stops when every order has had
-- its answer (the few requests in flight past the end answer 409).
local ids = {}
local sent, answered = 0, 0
local token = ""
function init(args)
  for line in io.lines(args[1]) do ids[#ids + 1] = line end
  token = args[2]
  math.randomseed(os.time())
end
function request()
  sent = sent + 1
  local id = ids[math.min(sent, #ids)]
  return wrk.format("POST", "/v1/admin/orders/" .. id .. "/fulfil",
    {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json",
     ["Idempotency-Key"] = "ful-" .. sent .. "-" .. math.random(1000000000)}, "{}")
end
function response(status, headers, body)
  answered = answered + 1
  if answered >= #ids then wrk.thread:stop() end
end
