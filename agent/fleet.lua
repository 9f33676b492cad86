-- SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
-- cruise fleet allocator: one call = one node's refresh of one medium (docs/design.md, "Fleet").
-- Run atomically by Redis (EVALSHA). Every key is in the medium's hash slot {prefix:medium}.
--
-- KEYS[1] nodes   hash  node -> "want share fb small"   (rates in milli-connections/s)
-- KEYS[2] leases  zset  node -> lease end (ms, Redis clock), nodes holding a share
-- KEYS[3] forget  zset  node -> when it is forgotten (ms), nodes whose lease ended
-- KEYS[4] rates   zset  node -> the fleet rate in that node's config (the lowest wins)
-- KEYS[5] agg     hash  claims (sum of what every counted node may use now), small_sum, small_n,
--                       born (when this allocation started: the store was empty)
--
-- ARGV: node, rate, want (-1: as much as it can get), fallback (0: rate / nodes), lease_ms,
--       forget_ms, fb_now (the rate this node's kernel falls back to now: caps its first share)
--
-- Safety: claims = sum of unexpired shares + fallbacks of nodes whose lease ended but are not yet
-- forgotten; a share is granted only out of rate - claims of the others, and shrinks at once.
-- A store that starts empty (new, restarted, failed over) cannot see the nodes pacing at their
-- fallback until they call again (their reconnects back off up to a lease): for two leases after
-- born, no node's share exceeds the fallback its kernel uses now.
-- Fairness (max-min, converging over refreshes): nodes that want less than the level are "small"
-- and get what they want; the others get level = (rate - small wants) / (nodes - small nodes).
-- Cost: O(log nodes) (zset updates) plus at most 32 expiries and 32 forgets per call.
--
-- Reply: {share, fallback, rate, nodes, level, {forgotten nodes}, now_ms}

local nodes, leases, forget, rates, agg = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local me = ARGV[1]
local rate = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local fb_cfg = tonumber(ARGV[4])
local lease_ms = tonumber(ARGV[5])
local forget_ms = tonumber(ARGV[6])
local fb_now = tonumber(ARGV[7])
if not (me and rate and want and fb_cfg and lease_ms and forget_ms and fb_now) or rate <= 0 or
    lease_ms <= 0 or forget_ms < lease_ms then
	return redis.error_reply('cruise: bad arguments')
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local function parse(rec)
	if type(rec) ~= 'string' then
		return nil
	end
	local w, s, f, sm = string.match(rec, '^(%d+) (%d+) (%d+) ([01])$')
	if not w then
		return nil
	end
	return { want = tonumber(w), share = tonumber(s), fb = tonumber(f), small = sm == '1' }
end

local function put(node, r)
	redis.call('HSET', nodes, node,
		string.format('%d %d %d %d', r.want, r.share, r.fb, r.small and 1 or 0))
end

-- What a node counts for in claims: its share while leased, its fallback once the lease ended.
local function claim(node, r)
	if redis.call('ZSCORE', leases, node) then
		return r.share
	end
	return r.fb
end

-- Aggregates from every record, when they are missing or damaged (a record that does not parse
-- is dropped: its node is new again at its next refresh, its first share capped at its fallback).
local function rebuild()
	local claims, small_sum, small_n = 0, 0, 0
	local all = redis.call('HGETALL', nodes)
	for i = 1, #all, 2 do
		local r = parse(all[i + 1])
		if r then
			claims = claims + claim(all[i], r)
			if r.small then
				small_sum = small_sum + r.want
				small_n = small_n + 1
			end
		else
			redis.call('HDEL', nodes, all[i])
			redis.call('ZREM', leases, all[i])
			redis.call('ZREM', forget, all[i])
			redis.call('ZREM', rates, all[i])
		end
	end
	return claims, small_sum, small_n
end

local a = redis.call('HMGET', agg, 'claims', 'small_sum', 'small_n', 'born')
local claims, small_sum, small_n = tonumber(a[1]), tonumber(a[2]), tonumber(a[3])
local born = tonumber(a[4]) or now
if not (claims and small_sum and small_n) or claims < 0 or small_sum < 0 or small_n < 0 then
	claims, small_sum, small_n = rebuild()
end
local damaged = false

-- Leases that ended: the node's kernel paces at its fallback now, so it counts at that rate
-- (as a small node wanting exactly it) until forget_after has passed.
for _, y in ipairs(redis.call('ZRANGEBYSCORE', leases, '-inf', now, 'LIMIT', 0, 32)) do
	local r = parse(redis.call('HGET', nodes, y))
	local ended = tonumber(redis.call('ZSCORE', leases, y))
	redis.call('ZREM', leases, y)
	if r then
		claims = claims - r.share + r.fb
		if r.small then
			small_sum = small_sum - r.want
		else
			small_n = small_n + 1
		end
		small_sum = small_sum + r.fb
		r.want, r.small = r.fb, true
		put(y, r)
		redis.call('ZADD', forget, ended + forget_ms, y)
	else
		damaged = true
	end
end

-- Nodes gone for forget_after: their fallback is no longer counted.
local forgotten = {}
for _, y in ipairs(redis.call('ZRANGEBYSCORE', forget, '-inf', now, 'LIMIT', 0, 32)) do
	local r = parse(redis.call('HGET', nodes, y))
	if r then
		claims = claims - r.fb
		if r.small then
			small_sum = small_sum - r.want
			small_n = small_n - 1
		end
	else
		damaged = true
	end
	redis.call('HDEL', nodes, y)
	redis.call('ZREM', forget, y)
	redis.call('ZREM', rates, y)
	forgotten[#forgotten + 1] = y
end

-- This node's previous record leaves the aggregates; it comes back below with its new share.
local old = parse(redis.call('HGET', nodes, me))
if old then
	claims = claims - claim(me, old)
	if old.small then
		small_sum = small_sum - old.want
		small_n = small_n - 1
	end
else
	damaged = damaged or redis.call('HEXISTS', nodes, me) == 1
end
redis.call('HDEL', nodes, me)
redis.call('ZREM', forget, me)
if damaged then
	-- a record changed under us (a foreign write): count again from what parses
	redis.call('ZREM', leases, me)
	redis.call('ZREM', rates, me)
	claims, small_sum, small_n = rebuild()
end
if claims < 0 then claims = 0 end
if small_sum < 0 then small_sum = 0 end
if small_n < 0 then small_n = 0 end

redis.call('ZADD', rates, rate, me)
local fleet_rate = tonumber(redis.call('ZRANGE', rates, 0, 0, 'WITHSCORES')[2])
local n = redis.call('HLEN', nodes) + 1

local fair = fleet_rate / n
local level = fair
if n - small_n > 0 then
	level = math.max(fair, (fleet_rate - small_sum) / (n - small_n))
end
local small = want >= 0 and want <= level
local share = level
if small then
	share = want
end
share = math.min(share, fleet_rate - claims)
local warming = now < born + 2 * lease_ms
if not old or warming then
	-- new to the store, or the store is new: others may pace at fallbacks it cannot see
	share = math.min(share, fb_now)
end
share = math.max(0, math.floor(share))
local fb = fb_cfg
if fb <= 0 then
	fb = math.floor(fleet_rate / n)
	if warming then
		-- nodes not seen yet are not in n: the fallback in force may not grow
		fb = math.min(fb, fb_now)
	end
end
fb = math.min(fb, fleet_rate)

local r = { want = math.max(want, 0), share = share, fb = fb, small = small }
if not small then
	r.want = 0
end
put(me, r)
claims = claims + share
if small then
	small_sum = small_sum + r.want
	small_n = small_n + 1
end
redis.call('ZADD', leases, now + lease_ms, me)
redis.call('HSET', agg, 'claims', claims, 'small_sum', small_sum, 'small_n', small_n, 'born', born)
-- a fleet that is gone leaves nothing behind
local ttl = forget_ms + 2 * lease_ms
for _, k in ipairs(KEYS) do
	redis.call('PEXPIRE', k, ttl)
end
return { share, fb, fleet_rate, n, math.floor(level), forgotten, now }
