-- POST /v1/admin/orders/{id}/fulfil once for each order id in args[1] (from
-- line args[3] on), as the admin whose token is args[2]. Past the end of the
-- list it repeats the last id (answered 409): the window is meant to end
-- before the list does.
local ids = {}
local sent = 0
local token = ""
function init(args)
  for line in io.lines(args[1]) do ids[#ids + 1] = line end
  token = args[2]
  sent = tonumber(args[3]) or 0
  math.randomseed(os.time())
end
function request()
  sent = sent + 1
  local id = ids[math.min(sent, #ids)]
  return wrk.format("POST", "/v1/admin/orders/" .. id .. "/fulfil",
    {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json",
     ["Idempotency-Key"] = "ful-" .. sent .. "-" .. math.random(1000000000)}, "{}")
end
