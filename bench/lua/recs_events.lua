-- POST /v1/events: views by the users whose tokens are in args[1] of the
-- products in args[2].
local tokens, ids = {}, {}
local i = 0
function init(args)
  for line in io.lines(args[1]) do tokens[#tokens + 1] = line end
  for line in io.lines(args[2]) do ids[#ids + 1] = line end
end
function request()
  i = i + 1
  return wrk.format("POST", "/v1/events",
    {["Authorization"] = "Bearer " .. tokens[(i - 1) % #tokens + 1],
     ["Content-Type"] = "application/json"},
    '{"type":"view","product_id":' .. ids[((i * 7919) % #ids) + 1] .. '}')
end
