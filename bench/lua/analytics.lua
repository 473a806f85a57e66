-- GET args[2] (an analytics report) as the admin whose token is args[1].
local token, path = "", ""
function init(args)
  token = args[1]
  path = args[2]
end
function request()
  return wrk.format("GET", path, {["Authorization"] = "Bearer " .. token})
end
