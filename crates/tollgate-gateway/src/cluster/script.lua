-- Multi-window GCRA in Redis, one hash per window: t = TAT, i = interval.
-- Times are microseconds since 2024-01-01 from Redis' own clock, so every
-- data plane shares one clock.
-- ARGV[1] = 'charge' (admit one request atomically, all windows or none)
--        or 'add'    (record ARGV[2] requests a node admitted over the last
--                     ARGV[3] microseconds, crediting the refill since then)
-- ARGV[2] = cost, ARGV[3] = since_us; then per window (KEYS[k]):
--           interval_us, period_us, limit, floor_us (the node's own debt: the
--           state is never below it, so an empty Redis does not grant a burst)
-- Returns {allowed, retry_us, debt_1 .. debt_n}; debt = TAT - now (us).
pcall(redis.replicate_commands)
local t = redis.call('TIME')
local now = (tonumber(t[1]) - 1704067200) * 1000000 + tonumber(t[2])
local mode = ARGV[1]
local cost = tonumber(ARGV[2])
local since = tonumber(ARGV[3])
local n = #KEYS
local tats, iv, pd = {}, {}, {}
local ok = true
local retry = 0
for k = 1, n do
  local b = 3 + (k - 1) * 4
  local interval = tonumber(ARGV[b + 1])
  local period = tonumber(ARGV[b + 2])
  local limit = tonumber(ARGV[b + 3])
  local floor = tonumber(ARGV[b + 4])
  local h = redis.call('HMGET', KEYS[k], 't', 'i')
  local tat = tonumber(h[1]) or now
  local old = tonumber(h[2])
  if old and old ~= interval and tat > now then
    -- The limit changed: keep what was used, capped at the new limit.
    local used = math.ceil((tat - now) / old)
    if used > limit then used = limit end
    tat = now + used * interval
  end
  if tat < now + floor then tat = now + floor end
  if mode == 'add' then
    -- The counted requests happened over the last `since` us: credit the refill.
    if tat < now - since then tat = now - since end
  elseif tat < now then
    tat = now
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
    -- they over-admitted together), capped at four windows.
    if tats[k] - now > 4 * pd[k] then tats[k] = now + 4 * pd[k] end
    if tats[k] > now then
      redis.call('HSET', KEYS[k], 't', tats[k], 'i', iv[k])
      redis.call('PEXPIRE', KEYS[k], math.ceil((tats[k] - now) / 1000) + 1000)
    end
  end
end
local out = { ok and 1 or 0, math.ceil(retry) }
for k = 1, n do
  local d = tats[k] - now
  if d < 0 then d = 0 end
  out[2 + k] = math.floor(d)
end
return out
