-- POST /v1/events: views by the users whose tokens are in args[1] of the
-- products in args[2]; args[3] views a request (default 1: the single
-- form {type, product_id}; more: a batch {events: [...]}, a storefront's
-- beacon).
local tokens, ids = {}, {}
local i, k, per = 0, 0, 1
function init(args)
  for line in io.lines(args[1]) do tokens[#tokens + 1] = line end
  for line in io.lines(args[2]) do ids[#ids + 1] = line end
  per = tonumber(args[3]) or 1
end
local function view()
  k = k + 1
  return '{"type":"view","product_id":' .. ids[((k * 7919) % #ids) + 1] .. '}'
end
function request()
  i = i + 1
  local body = view()
  if per > 1 then
    local evs = {body}
    for j = 2, per do evs[j] = view() end
    body = '{"events":[' .. table.concat(evs, ",") .. ']}'
  end
  return wrk.format("POST", "/v1/events",
    {["Authorization"] = "Bearer " .. tokens[(i - 1) % #tokens + 1],
     ["Content-Type"] = "application/json"}, body)
end
