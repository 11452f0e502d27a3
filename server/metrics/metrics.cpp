#include "server/metrics/metrics.hpp"

#include <memory>
#include <mutex>
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

Series close_series(std::uint16_t code) {
  switch (code) {
    case 1000:
      return Series::closes_1000;
    case 1001:
      return Series::closes_1001;
    case 1002:
      return Series::closes_1002;
    case 1003:
      return Series::closes_1003;
    case 1007:
      return Series::closes_1007;
    case 1008:
      return Series::closes_1008;
    case 1009:
      return Series::closes_1009;
    case 1011:
      return Series::closes_1011;
    case 1013:
      return Series::closes_1013;
    case 4001:
      return Series::closes_4001;
    case 4003:
      return Series::closes_4003;
    case 4004:
      return Series::closes_4004;
    default:
      return Series::closes_other;
  }
}

Series handshake_rejection_series(int status) {
  switch (status) {
    case 400:
      return Series::handshake_rejected_400;
    case 401:
      return Series::handshake_rejected_401;
    case 403:
      return Series::handshake_rejected_403;
    case 404:
      return Series::handshake_rejected_404;
    case 426:
      return Series::handshake_rejected_426;
    case 429:
      return Series::handshake_rejected_429;
    case 503:
      return Series::handshake_rejected_503;
    default:
      return Series::handshake_rejected_other;
  }
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
