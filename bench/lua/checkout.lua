-- POST /v1/orders: each request is a different buyer (lines "token,address,card"
-- of args[1], starting at line args[2]) checking out their one-line cart.
local buyers = {}
local i = 0
local first = 0
function init(args)
  for line in io.lines(args[1]) do buyers[#buyers + 1] = line end
  first = tonumber(args[2]) or 0
  math.randomseed(os.time())
end
function request()
  local b = buyers[((first + i) % #buyers) + 1]
  i = i + 1
  local tok, addr, card = b:match("([^,]+),([^,]+),([^,]+)")
  return wrk.format("POST", "/v1/orders",
    {["Authorization"] = "Bearer " .. tok, ["Content-Type"] = "application/json",
     ["Idempotency-Key"] = "bench-" .. (first + i) .. "-" .. math.random(1000000000)},
    '{"shipping_address_id":' .. addr .. ',"payments":[{"payment_method_id":' .. card ..
    '}],"shipping_method":"standard"}')
end
