-- Quota leases over the same GCRA hashes as script.lua (t = TAT, i = interval;
-- microseconds since 2024-01-01 from Redis' own clock).
-- ARGV[1] = 'take': grant up to ARGV[2] requests (all windows alike), never
--                   more than half of what remains (at least 1), so the last
--                   of a limit is spread over the nodes that ask for it
--        or 'give': hand back ARGV[2] unused requests of an expired lease
-- then per window (KEYS[k]): interval_us, period_us, limit, floor_us.
-- A grant is charged at once, so the cluster's admissions never exceed what
-- GCRA allows; a give is the exact inverse of charging that many.
-- Returns {granted, retry_us, debt_1 .. debt_n}; debt = TAT - now (us).
pcall(redis.replicate_commands)
local t = redis.call('TIME')
local now = (tonumber(t[1]) - 1704067200) * 1000000 + tonumber(t[2])
local mode = ARGV[1]
local n_req = tonumber(ARGV[2])
local n = #KEYS
local tats, iv, pd, olds = {}, {}, {}, {}
local avail = n_req
local retry = 0
for k = 1, n do
  local b = 2 + (k - 1) * 4
  local interval = tonumber(ARGV[b + 1])
  local period = tonumber(ARGV[b + 2])
  local limit = tonumber(ARGV[b + 3])
  local floor = tonumber(ARGV[b + 4])
  local h = redis.call('HMGET', KEYS[k], 't', 'i')
  local tat = tonumber(h[1]) or now
  local old = tonumber(h[2])
  if old and old ~= interval and tat > now then
    local used = math.ceil((tat - now) / old)
    if used > limit then used = limit end
    tat = now + used * interval
  end
  if tat < now + floor then tat = now + floor end
  if tat < now then tat = now end
  tats[k], iv[k], pd[k], olds[k] = tat, interval, period, old
  if mode == 'take' then
    local free = math.floor((now + period - tat) / interval)
    if free < 1 then
      free = 0
      local wait = tat + interval - now - period
      if wait > retry then retry = wait end
    elseif free > 1 then
      free = math.floor(free / 2)
    end
    if free < avail then avail = free end
  end
end
local granted = 0
if mode == 'take' then
  granted = avail
  if granted < 0 then granted = 0 end
end
for k = 1, n do
  local changed = false
  if mode == 'take' and granted > 0 then
    tats[k] = tats[k] + iv[k] * granted
    changed = true
  elseif mode == 'give' and (olds[k] == nil or olds[k] == iv[k]) then
    tats[k] = tats[k] - iv[k] * n_req
    if tats[k] < now then tats[k] = now end
    changed = true
  end
  if changed then
    if tats[k] > now then
      redis.call('HSET', KEYS[k], 't', tats[k], 'i', iv[k])
      redis.call('PEXPIRE', KEYS[k], math.ceil((tats[k] - now) / 1000) + 1000)
    else
      redis.call('DEL', KEYS[k])
    end
  end
end
local out = { granted, math.ceil(retry) }
for k = 1, n do
  local d = tats[k] - now
  if d < 0 then d = 0 end
  out[2 + k] = math.floor(d)
end
return out
