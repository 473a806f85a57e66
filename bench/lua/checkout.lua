-- POST /v1/orders: each request is a different buyer (lines "token,address,card"
-- of args[1], starting at line args[2]) checking out their one-line cart.
-- With args[3] = "xff" each buyer also comes from an address of its own, sent
-- as X-Forwarded-For (the server trusts loopback as its proxy), as a shop
-- behind a load balancer sees its customers.
local buyers = {}
local i = 0
local first = 0
local xff = false
function init(args)
  for line in io.lines(args[1]) do buyers[#buyers + 1] = line end
  first = tonumber(args[2]) or 0
  xff = args[3] == "xff"
  math.randomseed(os.time())
end
function request()
  local b = buyers[((first + i) % #buyers) + 1]
  i = i + 1
  local tok, addr, card = b:match("([^,]+),([^,]+),([^,]+)")
  local n = first + i
  local headers = {["Authorization"] = "Bearer " .. tok, ["Content-Type"] = "application/json",
     ["Idempotency-Key"] = "bench-" .. n .. "-" .. math.random(1000000000)}
  if xff then
    headers["X-Forwarded-For"] = string.format("10.%d.%d.%d", math.floor(n / 65536) % 256,
                                               math.floor(n / 256) % 256, n % 256)
  end
  return wrk.format("POST", "/v1/orders", headers,
    '{"shipping_address_id":' .. addr .. ',"payments":[{"payment_method_id":' .. card ..
    '}],"shipping_method":"standard"}')
end
