#include "server/store/history_store.hpp"

#include <random>

#include "server/store/sqlite_history_store.hpp"

namespace chatd {

namespace {

// history.store: memory. The rooms' own retained events are the whole history; nothing outlives the
// process, so every room starts a new epoch when the server starts.
class MemoryHistoryStore : public HistoryStore {
 public:
  RoomHistory load(const std::string&) override { return RoomHistory{make_epoch(), 0, {}}; }
  bool knows(const std::string&) override { return false; }
  void append(const std::string&, std::vector<SharedEvent>, std::uint64_t, Committed committed) override {
    if (committed) committed(true);
  }
  void close() override {}
};

}  // namespace

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
