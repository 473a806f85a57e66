-- POST /v1/flash-sales/{args[2]}/queue once for every buyer of args[1]
-- ("token,address,card" lines); then cheap /healthz requests until every
-- join has been answered, and stop.
local buyers = {}
local i, answered = 0, 0
local sale = "0"
function init(args)
  for line in io.lines(args[1]) do buyers[#buyers + 1] = line:match("^[^,]+") end
  sale = args[2]
end
function request()
  i = i + 1
  if i > #buyers then
    return wrk.format("GET", "/healthz")
  end
  return wrk.format("POST", "/v1/flash-sales/" .. sale .. "/queue",
    {["Authorization"] = "Bearer " .. buyers[i]})
end
function response(status, headers, body)
  answered = answered + 1
  if answered >= #buyers then wrk.thread:stop() end
end
