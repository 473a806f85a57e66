-- search.lua — wrk script for bench/search.sh: requests paths read from a
-- file, one per line.
--
--   wrk -s bench/search.lua URL -- PATHS_FILE [uniform|zipf] [SEED]
--
-- uniform: every path equally often (a random start, then round-robin);
-- zipf:    path k (1-based, the file's order) with probability ∝ 1/k,
--          like the popularity of real queries.

local paths = {}
local cdf = {}
local mode = "uniform"
local n, i = 0, 0

function init(args)
  local file = args[1] or error("usage: wrk -s search.lua URL -- PATHS_FILE [uniform|zipf] [SEED]")
  mode = args[2] or "uniform"
  math.randomseed(os.time() * 1000 + (tonumber(args[3]) or 1))
  for line in io.lines(file) do
    if #line > 0 then
      n = n + 1
      paths[n] = line
    end
  end
  if n == 0 then error("no paths in " .. file) end
  if mode == "zipf" then
    local total = 0
    for k = 1, n do
      total = total + 1 / k
      cdf[k] = total
    end
    for k = 1, n do cdf[k] = cdf[k] / total end
  end
  i = math.random(n) - 1
end

local function zipf()
  local u = math.random()
  local lo, hi = 1, n
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if cdf[mid] < u then lo = mid + 1 else hi = mid end
  end
  return lo
end

function request()
  local k
  if mode == "zipf" then
    k = zipf()
  else
    i = i % n + 1
    k = i
  end
  return wrk.format("GET", paths[k])
end

local errors = 0
function response(status, headers, body)
  if status ~= 200 then
    errors = errors + 1
    if errors <= 3 then io.stderr:write("non-200: " .. status .. " " .. body:sub(1, 200) .. "\n") end
  end
end
