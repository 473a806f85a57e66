-- POST /v1/cart/lines: buyers (token per line in args[1]) add variants
-- (ids in args[2]) to their own carts, one quantity at a time.
local tokens, variants = {}, {}
local i = 0
function init(args)
  for line in io.lines(args[1]) do tokens[#tokens + 1] = line:match("^[^,]+") end
  for line in io.lines(args[2]) do variants[#variants + 1] = line end
end
function request()
  i = i + 1
  local tok = tokens[(i - 1) % #tokens + 1]
  local v = variants[((i * 7919) % #variants) + 1]
  return wrk.format("POST", "/v1/cart/lines",
    {["Authorization"] = "Bearer " .. tok, ["Content-Type"] = "application/json"},
    '{"variant_id":' .. v .. ',"quantity":1}')
end
