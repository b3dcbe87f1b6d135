-- Multi-window GCRA in Redis, one hash per window: t = TAT, i = interval.
-- Times are microseconds since 2024-01-01 from Redis' own clock, so every
-- data plane shares one clock.
-- ARGV[1] = 'charge' (admit one request atomically, all windows or none)
--        or 'add'    (record ARGV[2] requests already admitted by a node)
-- ARGV[2] = cost; then per window (KEYS[k]): interval_us, period_us, limit
-- Returns {allowed, retry_us, debt_1 .. debt_n}; debt = TAT - now (us).
local t = redis.call('TIME')
local now = (tonumber(t[1]) - 1704067200) * 1000000 + tonumber(t[2])
local mode = ARGV[1]
local cost = tonumber(ARGV[2])
local n = #KEYS
local tats, iv, pd = {}, {}, {}
local ok = true
local retry = 0
for k = 1, n do
  local b = 2 + (k - 1) * 3
  local interval = tonumber(ARGV[b + 1])
  local period = tonumber(ARGV[b + 2])
  local limit = tonumber(ARGV[b + 3])
  local h = redis.call('HMGET', KEYS[k], 't', 'i')
  local tat = tonumber(h[1]) or now
  local old = tonumber(h[2])
  if tat < now then tat = now end
  if old and old ~= interval then
    -- The limit changed: keep what was used, capped at the new limit.
    local used = math.ceil((tat - now) / old)
    if used > limit then used = limit end
    tat = now + used * interval
  end
  tats[k], iv[k], pd[k] = tat, interval, period
  if mode == 'charge' then
    local after = tat + interval * cost - now
    if after > period then
      ok = false
      if after - period > retry then retry = after - period end
    end
  end
end
if mode == 'add' or ok then
  for k = 1, n do
    tats[k] = tats[k] + iv[k] * cost
    -- Debt beyond one window is kept (it is what pushes every node back after
    -- they over-admitted together), but capped at four windows so that an
    -- outage's backlog cannot lock a caller out for long.
    if tats[k] - now > 4 * pd[k] then tats[k] = now + 4 * pd[k] end
    redis.call('HSET', KEYS[k], 't', tats[k], 'i', iv[k])
    redis.call('PEXPIRE', KEYS[k], math.ceil((tats[k] - now) / 1000) + 1000)
  end
end
local out = { ok and 1 or 0, math.ceil(retry) }
for k = 1, n do out[2 + k] = math.ceil(tats[k] - now) end
return out
