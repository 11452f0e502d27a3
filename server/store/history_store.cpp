#include "server/store/history_store.hpp"

#include <random>

#include "server/store/memory_history_store.hpp"
#include "server/store/sqlite_history_store.hpp"

namespace chatd {

std::string make_epoch() {
  static constexpr char hex[] = "0123456789abcdef";
  std::random_device random;
  std::string epoch;
  for (int i = 0; i < 4; ++i) {
    auto bits = random();
    for (int j = 0; j < 4; ++j, bits >>= 4) epoch.push_back(hex[bits & 15]);
  }
  return epoch;
}

std::unique_ptr<HistoryStore> open_history_store(const config::History& settings) {
  if (settings.store == config::History::Store::memory) return std::make_unique<MemoryHistoryStore>();
  return std::make_unique<SqliteHistoryStore>(settings);
}

}  // namespace chatd
