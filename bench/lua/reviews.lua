-- GET /v1/products/{id}/reviews (the first page, most helpful first) over
-- the published product ids in the file args[1]; args[2], when given, is a
-- query string ("?sort=newest").
local ids = {}
local query = ""
function init(args)
  for line in io.lines(args[1]) do ids[#ids + 1] = line end
  query = args[2] or ""
  math.randomseed(os.time())
end
function request()
  return wrk.format("GET", "/v1/products/" .. ids[math.random(#ids)] .. "/reviews" .. query)
end
