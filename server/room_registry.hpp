// Rooms by name: the configured ones, plus rooms made on first use when rooms.dynamic is on,
// up to rooms.max.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "config/config.hpp"
#include "server/history_store.hpp"
#include "server/room.hpp"
#include "server/worker_pool.hpp"

namespace chatd {

class RoomRegistry {
 public:
  // Makes the configured rooms, loading their history: throws StoreError when the store cannot.
  RoomRegistry(const config::Rooms& settings, const config::History& history, HistoryStore& store,
               WorkerPool& workers);

  struct Lookup {
    std::shared_ptr<Room> room;  // null on failure
    int status = 0;  // 400 invalid name, 404 unknown room, 503 room limit reached or history unreadable
    std::string error;
  };
  // Any thread. Makes the room on first use when rooms are dynamic.
  Lookup find(std::string_view name);
  // Any thread. Only a room that is live or has a stored history: asking about a room makes none.
  Lookup find_existing(std::string_view name);

  std::size_t size();
  // Closes every inbox and waits (until `deadline`) for the actors to end.
  void stop_all(std::chrono::steady_clock::time_point deadline);
  // After the worker threads are joined: see Room::release_subscribers_after_stop.
  void release_all_after_stop();

 private:
  Lookup find(std::string_view name, bool only_existing);
  std::shared_ptr<Room> add_locked(const std::string& name, HistoryStore::RoomHistory history);

  const config::Rooms& settings_;
  const config::History& history_;
  HistoryStore& store_;
  WorkerPool& workers_;
  std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<Room>> rooms_;
};

}  // namespace chatd
