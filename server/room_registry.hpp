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
#include "server/room.hpp"
#include "server/worker_pool.hpp"

namespace chatd {

class RoomRegistry {
 public:
  RoomRegistry(const config::Rooms& settings, WorkerPool& workers);

  struct Lookup {
    std::shared_ptr<Room> room;  // null on failure
    int status = 0;              // 400 invalid name, 404 unknown room, 503 room limit reached
    std::string error;
  };
  // Any thread.
  Lookup find(std::string_view name);

  std::size_t size();
  // Closes every inbox and waits (until `deadline`) for the actors to end.
  void stop_all(std::chrono::steady_clock::time_point deadline);
  // After the worker threads are joined: see Room::release_subscribers_after_stop.
  void release_all_after_stop();

 private:
  std::shared_ptr<Room> create_locked(const std::string& name);

  const config::Rooms& settings_;
  WorkerPool& workers_;
  std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<Room>> rooms_;
};

}  // namespace chatd
