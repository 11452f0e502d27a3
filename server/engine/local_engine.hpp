// The engine of a single node: ids counted on the room's thread, events handed to the write-behind
// HistoryStore (history.store: sqlite or memory). What the room did itself before the engine seam.
#pragma once

#include <atomic>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "server/engine/engine.hpp"
#include "server/store/history_store.hpp"

namespace chatd {

class LocalEngine final : public Engine {
 public:
  // `history`: what `store` remembers of room `room`. The registry reads it (HistoryStore::load) on its
  // loader thread, as before the seam: it is blocking disk I/O that must not run on a worker.
  LocalEngine(std::string room, HistoryStore& store, const config::History& settings,
              HistoryStore::RoomHistory history);

  HistoryStore::RoomHistory take_loaded_history() override;
  // Numbers at once: every event is appended to `numbered`.
  void sequence(EventType type, const std::string& name, std::span<std::string> texts, std::int64_t ts,
                std::vector<SharedEvent>& numbered) override;
  void commit(std::shared_ptr<PublishReply>& reply, std::uint64_t kept_from) override;

  bool all_stored() const override;

 private:
  std::string room_;
  HistoryStore& store_;
  const config::History& settings_;
  HistoryStore::RoomHistory loaded_;  // until the room takes it
  std::uint64_t last_id_;
  std::vector<SharedEvent> unstored_;  // numbered since the last commit(), handed to the store by it
  // Events handed to the store whose commit callback has not run yet: the store's writer thread counts
  // them down. Shared with the callbacks, which may outlive the engine.
  std::shared_ptr<std::atomic<std::size_t>> appending_ = std::make_shared<std::atomic<std::size_t>>(0);
};

}  // namespace chatd
