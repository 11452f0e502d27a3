// The Lua scripts that are chatd's whole data model in Redis (docs/cluster.md has the keys). Redis runs a
// script alone, start to end, so a room's counter, its stream and the order of its pub/sub messages agree
// across nodes: ids are consecutive, given once, and published in order. Redis does not roll back a script
// that fails half way, so every check comes before the first write.
//
// Every script takes ARGV[1] = cluster.redis.prefix and computes its keys from it and the room (single
// Redis; docs/cluster.md says how rooms shard over several). Each script's ARGV is listed beside it.
#pragma once

#include <string>

namespace chatd::cluster {

struct Script {
  const char* name;
  std::string source;
};

// ARGV: prefix, room, gen, salt, max_events, deadline_ms, ts, type, name, text...
// -> {first_id, epoch}; error "EXPIRED ..." (nothing written) when Redis' clock is past deadline_ms.
const Script& append_script();
// ARGV: prefix, room, gen, salt, max_events, node, ts, version, absolute (0|1), name, count, name, count...
// The node's sessions of each name in the room: deltas, or (absolute) the whole list. A name whose count
// across nodes crosses 0<->1 gets a join/leave, appended as by append. -> {first_id or 0, epoch or ""}.
// A version not above the node's last one is ignored (a stale call run late, after a resync).
const Script& presence_script();
// ARGV: prefix, node, ttl_ms, gen, salt, max_events, ts
// Registers the node until Redis' now + ttl_ms, then reaps every node past its deadline: its sessions are
// subtracted, and each of its users whose count reaches 0 gets one leave. -> {registered_before (0|1),
// nodes_reaped}.
const Script& heartbeat_script();
// ARGV: prefix, node, gen, salt, max_events, ts — the node leaves at once (SIGTERM): reaps itself.
const Script& leave_script();
// ARGV: prefix, room, count, gen, salt -> {epoch, last, from, XREVRANGE log + - COUNT count}, in one step,
// so the newest events and the last id agree; `from` is the epoch's first id. A room with no epoch gets
// one (so every room a node serves has its epoch from the start).
const Script& window_script();

}  // namespace chatd::cluster
