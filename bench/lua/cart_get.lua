-- GET /v1/cart for buyers in args[1], round robin.
local tokens = {}
local i = 0
function init(args)
  for line in io.lines(args[1]) do tokens[#tokens + 1] = line:match("^[^,]+") end
end
function request()
  i = i + 1
  return wrk.format("GET", "/v1/cart",
    {["Authorization"] = "Bearer " .. tokens[(i - 1) % #tokens + 1]})
end
