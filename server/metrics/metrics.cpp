#include "server/metrics/metrics.hpp"

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace chatd::metrics {

namespace {

struct Registry {
  std::mutex mutex;
  std::vector<std::unique_ptr<Shard>> shards;  // never shrinks: a shard outlives its thread
};

Registry& registry() {
  static Registry* const instance = new Registry;  // never destroyed: threads may count during exit
  return *instance;
}

}  // namespace

Shard& detail::register_shard() {
  auto shard = std::make_unique<Shard>();
  Shard& mine = *shard;
  Registry& all = registry();
  const std::lock_guard lock(all.mutex);
  all.shards.push_back(std::move(shard));
  return mine;
}

std::array<std::uint64_t, series_count> totals() {
  std::array<std::uint64_t, series_count> sums{};
  Registry& all = registry();
  const std::lock_guard lock(all.mutex);
  for (const auto& shard : all.shards) {
    for (std::size_t i = 0; i < series_count; ++i)
      sums[i] += shard->values[i].load(std::memory_order_relaxed);
  }
  return sums;
}

namespace {

// The series of `family` whose label value is `number` written out, else `other`: the label values are
// written once, in series_table, not again here. Per close or refused handshake, not per message.
Series labelled(std::string_view family, long number, Series other) {
  const std::string value = std::to_string(number);
  for (const auto& info : series_table) {
    if (info.family == family && info.value == value) return info.series;
  }
  return other;
}

}  // namespace

Series close_series(std::uint16_t code) {
  return labelled("chatd_websocket_closes_total", code, Series::closes_other);
}

Series handshake_rejection_series(int status) {
  return labelled("chatd_handshake_rejections_total", status, Series::handshake_rejected_other);
}

void observe_commit(std::uint64_t microseconds) {
  static constexpr Series buckets[] = {Series::history_commit_le_1ms, Series::history_commit_le_5ms,
                                       Series::history_commit_le_25ms, Series::history_commit_le_100ms,
                                       Series::history_commit_le_500ms};
  Series bucket = Series::history_commit_le_inf;
  for (std::size_t i = 0; i < history_commit_bounds.size(); ++i) {
    if (static_cast<double>(microseconds) <= history_commit_bounds[i] * 1e6) {
      bucket = buckets[i];
      break;
    }
  }
  add(bucket);
  add(Series::history_commit_microseconds, microseconds);
  add(Series::history_commits);
}

}  // namespace chatd::metrics
