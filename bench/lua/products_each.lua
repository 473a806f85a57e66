-- GET /v1/products/{id} over the product ids in the file args[1], each in
-- turn (with wrk -t1, every id once before any twice): the first visit to
-- each page, before it is kept in memory.
local ids, i = {}, 0
function init(args)
  for line in io.lines(args[1]) do ids[#ids + 1] = line end
end
function request()
  i = i % #ids + 1
  return wrk.format("GET", "/v1/products/" .. ids[i])
end
