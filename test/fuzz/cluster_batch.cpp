// libFuzzer target: protocol::parse_cluster_batch on a room's pub/sub payload. Oracles: an accepted batch
// formats back to exactly the bytes it was parsed from (one spelling per batch, so two nodes cannot read
// one payload two ways); its types are 0..2, its epoch is non-empty with no space or newline, and its ids
// first_id .. first_id + count - 1 are all above 0 and below 2^64.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string_view>

#include "protocol/cluster_batch.hpp"
#include "test/fuzz/check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view payload(reinterpret_cast<const char*>(data), size);
  const auto batch = chatd::protocol::parse_cluster_batch(payload);
  if (!batch) return 0;
  FUZZ_CHECK(chatd::protocol::format_cluster_batch(*batch) == payload);
  FUZZ_CHECK(!batch->epoch.empty() && batch->epoch.find_first_of(" \n") == std::string_view::npos);
  FUZZ_CHECK(batch->first_id > 0);
  FUZZ_CHECK(batch->events.empty() ||
             batch->events.size() - 1 <= std::numeric_limits<std::uint64_t>::max() - batch->first_id);
  for (const auto& event : batch->events) FUZZ_CHECK(event.type <= 2);
  return 0;
}
