// server/metrics: counts from many threads summed at scrape time, the table's families, and the commit
// latency histogram's buckets. The counters are process-wide, so every check is on a difference.
#include <doctest/doctest.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "server/metrics/metrics.hpp"

using namespace chatd::metrics;

namespace {

std::uint64_t total(Series series) {
  return totals()[static_cast<std::size_t>(series)];
}

}  // namespace

TEST_CASE("metrics: counts from every thread are summed, and a thread that ended keeps its counts") {
  const auto before = total(Series::deliveries);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([] {
      for (int i = 0; i < 1000; ++i) add(Series::deliveries, 3);
    });
  }
  for (auto& thread : threads) thread.join();
  add(Series::deliveries);
  CHECK(total(Series::deliveries) - before == 4 * 1000 * 3 + 1);
}

TEST_CASE("metrics: a family's series are together, each label value once, help on the first") {
  std::set<std::string> finished;
  std::string_view family;
  std::set<std::string> values;
  for (const auto& info : series_table) {
    if (info.family != family) {
      REQUIRE_MESSAGE(finished.insert(std::string(info.family)).second, "family split: ", info.family);
      CHECK_MESSAGE(!info.help.empty(), info.family, " has no help on its first series");
      family = info.family;
      values.clear();
    } else {
      CHECK_MESSAGE(info.help.empty(), info.family, ": help is given once");
    }
    CHECK(info.family.starts_with("chatd_"));
    if (info.type == Type::counter) CHECK(info.family.ends_with("_total"));
    CHECK_MESSAGE(values.insert(std::string(info.label) + "=" + std::string(info.value)).second, info.family,
                  " repeats ", info.value);
  }
}

TEST_CASE("metrics: close codes and handshake statuses map to their series, others to 'other'") {
  CHECK(close_series(1008) == Series::closes_1008);
  CHECK(close_series(4001) == Series::closes_4001);
  CHECK(close_series(1013) == Series::closes_1013);
  CHECK(close_series(3000) == Series::closes_other);
  CHECK(handshake_rejection_series(401) == Series::handshake_rejected_401);
  CHECK(handshake_rejection_series(418) == Series::handshake_rejected_other);
}

TEST_CASE("metrics: a commit lands in the first bucket its time fits, and its time goes to the sum") {
  const auto before = totals();
  observe_commit(1000);     // 1 ms: le 0.001, inclusive as Prometheus' le is
  observe_commit(1001);     // le 0.005
  observe_commit(30000);    // le 0.1
  observe_commit(9000000);  // 9 s: only +Inf
  const auto after = totals();
  const auto moved = [&](Series series) {
    return after[static_cast<std::size_t>(series)] - before[static_cast<std::size_t>(series)];
  };
  CHECK(moved(Series::history_commit_le_1ms) == 1);
  CHECK(moved(Series::history_commit_le_5ms) == 1);
  CHECK(moved(Series::history_commit_le_25ms) == 0);
  CHECK(moved(Series::history_commit_le_100ms) == 1);
  CHECK(moved(Series::history_commit_le_500ms) == 0);
  CHECK(moved(Series::history_commit_le_inf) == 1);
  CHECK(moved(Series::history_commit_microseconds) == 1000 + 1001 + 30000 + 9000000);
  CHECK(moved(Series::history_commits) == 4);
}
