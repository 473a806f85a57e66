-- POST /v1/events in batches of 20 views (a storefront's beacon) by the
-- users whose tokens are in args[1] of the products in args[2].
local tokens, ids = {}, {}
local i, k = 0, 0
local BATCH = 20
function init(args)
  for line in io.lines(args[1]) do tokens[#tokens + 1] = line end
  for line in io.lines(args[2]) do ids[#ids + 1] = line end
end
function request()
  i = i + 1
  local evs = {}
  for j = 1, BATCH do
    k = k + 1
    evs[j] = '{"type":"view","product_id":' .. ids[((k * 7919) % #ids) + 1] .. '}'
  end
  return wrk.format("POST", "/v1/events",
    {["Authorization"] = "Bearer " .. tokens[(i - 1) % #tokens + 1],
     ["Content-Type"] = "application/json"},
    '{"events":[' .. table.concat(evs, ",") .. ']}')
end
