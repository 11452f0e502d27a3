#include "server/cluster/scripts.hpp"

namespace chatd::cluster {

namespace {

// Shared by the scripts that append events. Keys: PREFIX:{ROOM}:meta (hash: epoch, gen, last, v:NODE),
// PREFIX:{ROOM}:log (stream, ids N-0), PREFIX:{ROOM}:users (name -> sessions on every node),
// PREFIX:{ROOM}:node:NODE (name -> sessions on that node), PREFIX:node:NODE:rooms (set), PREFIX:nodes
// (zset: node -> deadline, ms of Redis' clock). The `{ROOM}` hash tag keeps a room's keys in one slot.
constexpr const char* common = R"lua(
local P = ARGV[1]
local function key(room, what) return P .. ':{' .. room .. '}:' .. what end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- events: {ts, type, name, text}. A room whose epoch was given by another Redis run (gen: the run_id the
-- node read when it connected; Redis restarted or failed over, and may have lost a tail) starts a new one
-- and goes on counting: a new epoch, so no (epoch, id) names two events. `from` is the epoch's first id.
local function new_epoch(meta, gen, salt)
  local t = redis.call('TIME')
  local epoch = salt .. string.format('%x%05x', tonumber(t[1]), tonumber(t[2]))
  local from = tonumber(redis.call('HGET', meta, 'last') or '0') + 1
  redis.call('HSET', meta, 'epoch', epoch, 'gen', gen, 'from', from)
  return epoch
end
-- The room's epoch; a room with none (new, or its keys lost) gets one, with an empty log.
local function epoch_of(room, gen, salt)
  local meta = key(room, 'meta')
  local epoch = redis.call('HGET', meta, 'epoch')
  if epoch then return epoch end
  redis.call('DEL', key(room, 'log'))
  return new_epoch(meta, gen, salt)
end
local function append(room, gen, salt, max_events, events)
  local meta = key(room, 'meta')
  local log = key(room, 'log')
  local epoch = epoch_of(room, gen, salt)
  if redis.call('HGET', meta, 'gen') ~= gen then epoch = new_epoch(meta, gen, salt) end
  local n = #events
  local last = redis.call('HINCRBY', meta, 'last', n)
  local first = last - n + 1
  local out = {'B ', epoch, ' ', string.format('%d', first), ' ', tostring(n), '\n'}
  for i = 1, n do
    local e = events[i]
    redis.call('XADD', log, 'MAXLEN', '~', max_events, string.format('%d-0', first + i - 1),
               't', e[1], 'y', e[2], 'n', e[3], 'x', e[4])
    out[#out + 1] = e[1] .. ' ' .. e[2] .. ' ' .. #e[3] .. ' ' .. #e[4] .. '\n' .. e[3] .. e[4]
  end
  redis.call('PUBLISH', P .. ':{' .. room .. '}', table.concat(out))
  return {first, epoch}
end
-- Undoes a node's sessions in every room it had some in; each user left with none gets one leave.
local function reap(node, gen, salt, max_events, ts)
  local rooms_key = P .. ':node:' .. node .. ':rooms'
  for _, room in ipairs(redis.call('SMEMBERS', rooms_key)) do
    local node_key = key(room, 'node:' .. node)
    local users = key(room, 'users')
    local held = redis.call('HGETALL', node_key)
    local events = {}
    for i = 1, #held, 2 do
      local name = held[i]
      local before = tonumber(redis.call('HGET', users, name) or '0')
      local after = before - tonumber(held[i + 1])
      if after <= 0 then redis.call('HDEL', users, name) else redis.call('HSET', users, name, after) end
      if before > 0 and after <= 0 then events[#events + 1] = {ts, '2', name, ''} end
    end
    redis.call('DEL', node_key)
    if #events > 0 then append(room, gen, salt, max_events, events) end
  end
  redis.call('DEL', rooms_key)
  redis.call('ZREM', P .. ':nodes', node)
end
)lua";

std::string with_common(const char* body) {
  return std::string(common) + body;
}

}  // namespace

const Script& append_script() {
  static const Script script{"append", with_common(R"lua(
-- A script already sent to a Redis that was stopped or slow runs when it wakes, after the publisher was
-- told 503: refuse it then, before any write, so "refused" means "never applied".
if now_ms() > tonumber(ARGV[6]) then
  return redis.error_reply('EXPIRED the publish deadline passed before Redis ran it')
end
local events = {}
for i = 10, #ARGV do events[#events + 1] = {ARGV[7], ARGV[8], ARGV[9], ARGV[i]} end
return append(ARGV[2], ARGV[3], ARGV[4], ARGV[5], events)
)lua")};
  return script;
}

const Script& presence_script() {
  static const Script script{"presence", with_common(R"lua(
local room, node, ts = ARGV[2], ARGV[6], ARGV[7]
local meta = key(room, 'meta')
local version = tonumber(ARGV[8])
if version <= tonumber(redis.call('HGET', meta, 'v:' .. node) or '-1') then return {0, ''} end
local node_key = key(room, 'node:' .. node)
local users = key(room, 'users')
local wanted = {}  -- name -> this node's sessions after this call
local order = {}
for i = 10, #ARGV, 2 do
  local name = ARGV[i]
  if wanted[name] == nil then order[#order + 1] = name end
  local had = tonumber(redis.call('HGET', node_key, name) or '0')
  local base = wanted[name] or had
  if ARGV[9] == '1' then base = 0 end
  wanted[name] = math.max(0, base + tonumber(ARGV[i + 1]))
end
if ARGV[9] == '1' then
  local held = redis.call('HGETALL', node_key)
  for i = 1, #held, 2 do
    if wanted[held[i]] == nil then order[#order + 1] = held[i]; wanted[held[i]] = 0 end
  end
end
redis.call('HSET', meta, 'v:' .. node, version)
local events = {}
for _, name in ipairs(order) do
  local had = tonumber(redis.call('HGET', node_key, name) or '0')
  local d = wanted[name] - had
  if d ~= 0 then
    if wanted[name] > 0 then redis.call('HSET', node_key, name, wanted[name]) else redis.call('HDEL', node_key, name) end
    local before = tonumber(redis.call('HGET', users, name) or '0')
    local after = before + d
    if after <= 0 then redis.call('HDEL', users, name) else redis.call('HSET', users, name, after) end
    if before <= 0 and after > 0 then events[#events + 1] = {ts, '1', name, ''} end
    if before > 0 and after <= 0 then events[#events + 1] = {ts, '2', name, ''} end
  end
end
local rooms_key = P .. ':node:' .. node .. ':rooms'
if redis.call('HLEN', node_key) > 0 then redis.call('SADD', rooms_key, room) else redis.call('SREM', rooms_key, room) end
if #events > 0 then return append(room, ARGV[3], ARGV[4], ARGV[5], events) end
return {0, ''}
)lua")};
  return script;
}

const Script& heartbeat_script() {
  static const Script script{"heartbeat", with_common(R"lua(
local nodes = P .. ':nodes'
local node = ARGV[2]
local now = now_ms()
local before = redis.call('ZSCORE', nodes, node)
redis.call('ZADD', nodes, now + tonumber(ARGV[3]), node)
local reaped = 0
for _, dead in ipairs(redis.call('ZRANGEBYSCORE', nodes, '-inf', now)) do
  if dead ~= node then
    reap(dead, ARGV[4], ARGV[5], ARGV[6], ARGV[7])
    reaped = reaped + 1
  end
end
return {before and 1 or 0, reaped}
)lua")};
  return script;
}

const Script& leave_script() {
  static const Script script{"leave", with_common(R"lua(
reap(ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6])
return 1
)lua")};
  return script;
}

const Script& window_script() {
  static const Script script{"window", with_common(R"lua(
local epoch = epoch_of(ARGV[2], ARGV[4], ARGV[5])
local m = redis.call('HMGET', key(ARGV[2], 'meta'), 'last', 'from')
local entries = redis.call('XREVRANGE', key(ARGV[2], 'log'), '+', '-', 'COUNT', ARGV[3])
return {epoch, tonumber(m[1] or '0'), tonumber(m[2] or '1'), entries}
)lua")};
  return script;
}

}  // namespace chatd::cluster
