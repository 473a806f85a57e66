-- GET /v1/products/{id}/frequently-bought-together over the ids in args[1].
local ids = {}
function init(args)
  for line in io.lines(args[1]) do ids[#ids + 1] = line end
  math.randomseed(os.time())
end
function request()
  return wrk.format("GET", "/v1/products/" .. ids[math.random(#ids)] ..
    "/frequently-bought-together")
end
