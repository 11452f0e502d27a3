// The payload of a room's pub/sub message in cluster mode (docs/cluster.md): a batch of consecutive
// events numbered by Redis in one script call, written by the Lua scripts (server/cluster/scripts.cpp)
// and read by every node. Length-prefixed, so names and texts carry any bytes:
//
//   B <epoch> <first_id> <count>\n
//   then `count` times:  <ts> <type> <name_bytes> <text_bytes>\n<name><text>
//
// type is 0 message, 1 join, 2 leave (EventType's values). Ids are first_id, first_id+1, ...
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace chatd::protocol {

struct ClusterEvent {
  std::int64_t ts = 0;
  std::uint8_t type = 0;  // 0 message, 1 join, 2 leave
  std::string name;
  std::string text;
};

struct ClusterBatch {
  std::string epoch;
  std::uint64_t first_id = 0;
  std::vector<ClusterEvent> events;
};

// Nullopt when `payload` is not exactly one well-formed batch (a count that does not match, a length past
// the end, trailing bytes, a type above 2, an epoch with a space or newline, first_id 0).
std::optional<ClusterBatch> parse_cluster_batch(std::string_view payload);
// The inverse (used by tests and fuzz oracles; the nodes' batches are written by the Lua scripts).
std::string format_cluster_batch(const ClusterBatch& batch);

}  // namespace chatd::protocol
