-- GET /v1/recommendations for the users whose tokens are the lines of args[1].
local tokens = {}
local i = 0
function init(args)
  for line in io.lines(args[1]) do tokens[#tokens + 1] = line end
end
function request()
  i = i + 1
  return wrk.format("GET", "/v1/recommendations",
    {["Authorization"] = "Bearer " .. tokens[(i - 1) % #tokens + 1]})
end
