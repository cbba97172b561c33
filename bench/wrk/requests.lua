-- The requests of the multicore scenario (bench/run.ts), for wrk:
--
--   wrk -t1 -c50 -d10s -s bench/wrk/requests.lua http://127.0.0.1:PORT -- get|post|put [ids]
--
-- The same requests as autocannon sends in scenarios 1 and 2 (bench/lib/requests.ts): GET and PUT
-- walk 500 of the ids m0…m{ids-1} (stride 7919, so neighbours are not neighbours in the store),
-- POST sends one body without a key (the server makes one, so every request creates a record).
-- Every request is formatted once in init(): request() only hands out a prepared string, so wrk
-- spends its CPU on sockets, not on Lua.
--
-- done() prints one JSON line (bench/lib/wrk.ts reads it): counts, latency percentiles (µs) and
-- wrk's own CPU time in clock ticks, read from /proc/self/stat after every thread has finished.

local CONTENT = 'SSE is working: a benchmark message of about a hundred bytes, like a chat line or a status.'
local JSON = { ['Content-Type'] = 'application/json' }

local list = {}
local i = 0

function init(args)
  local mode = args[1] or 'get'
  local ids = tonumber(args[2] or '10000')
  if mode == 'post' then
    list[1] = wrk.format('POST', '/bench/message', JSON, '{"title":"Hello","content":"' .. CONTENT .. '"}')
    return
  end
  if mode ~= 'get' and mode ~= 'put' then error('unknown mode ' .. mode) end
  for k = 0, math.min(ids, 500) - 1 do
    local id = 'm' .. ((k * 7919) % ids)
    if mode == 'get' then
      list[#list + 1] = wrk.format('GET', '/bench/message/' .. id)
    else
      list[#list + 1] = wrk.format('PUT', '/bench/message/' .. id, JSON, '{"id":"' .. id .. '","title":"Replaced","content":"' .. CONTENT .. '"}')
    end
  end
end

function request()
  i = i % #list + 1
  return list[i]
end

-- utime + stime (clock ticks) of this process, all threads: fields 14 and 15 of /proc/self/stat.
local function cpu_ticks()
  local f = io.open('/proc/self/stat', 'r')
  if not f then return -1 end
  local stat = f:read('*a')
  f:close()
  -- The name (field 2) may hold spaces and parentheses: count from the last ')'.
  local fields = {}
  for w in stat:match('^.*%)%s+(.*)$'):gmatch('%S+') do fields[#fields + 1] = w end
  -- fields[1] is field 3 (state).
  return tonumber(fields[12]) + tonumber(fields[13])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"durationUs":%d,"bytes":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latencyUs":{"p50":%d,"p99":%d,"max":%d,"mean":%.1f},"cpuTicks":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max, latency.mean, cpu_ticks()))
end
