#include "server/room_registry.hpp"

#include <thread>

#include "server/log.hpp"

namespace chatd {

RoomRegistry::RoomRegistry(const config::Rooms& settings, const config::History& history, HistoryStore& store,
                           WorkerPool& workers)
    : settings_(settings), history_(history), store_(store), workers_(workers) {
  std::lock_guard lock(mutex_);
  for (const auto& name : settings_.names) create_locked(name);
  create_locked(settings_.default_room);
}

std::shared_ptr<Room> RoomRegistry::create_locked(const std::string& name) {
  auto& slot = rooms_[name];
  if (!slot) {
    try {
      slot = std::make_shared<Room>(name, workers_.next().context(), store_, history_, store_.load(name));
    } catch (...) {
      rooms_.erase(name);
      throw;
    }
    slot->start();
  }
  return slot;
}

RoomRegistry::Lookup RoomRegistry::find(std::string_view name) {
  return find(name, false);
}

RoomRegistry::Lookup RoomRegistry::find_existing(std::string_view name) {
  return find(name, true);
}

RoomRegistry::Lookup RoomRegistry::find(std::string_view name, bool only_existing) {
  Lookup result;
  if (!config::is_valid_room_name(name)) {
    result.status = 400;
    result.error = "invalid room name (1 to 64 characters from A-Z a-z 0-9 . _ -)";
    return result;
  }
  const std::string key(name);
  std::lock_guard lock(mutex_);
  if (auto found = rooms_.find(key); found != rooms_.end()) {
    result.room = found->second;
    return result;
  }
  if (!settings_.dynamic || (only_existing && !store_.knows(key))) {
    result.status = 404;
    result.error = "no room named \"" + key + "\"";
    return result;
  }
  if (rooms_.size() >= settings_.max) {
    result.status = 503;
    result.error = "room limit reached (rooms.max = " + std::to_string(settings_.max) + ")";
    return result;
  }
  try {
    result.room = create_locked(key);
  } catch (const StoreError& error) {
    log::error("history: ", error.what());
    result.status = 503;
    result.error = "the history of room \"" + key + "\" cannot be read";
  }
  return result;
}

std::size_t RoomRegistry::size() {
  std::lock_guard lock(mutex_);
  return rooms_.size();
}

void RoomRegistry::stop_all(std::chrono::steady_clock::time_point deadline) {
  std::lock_guard lock(mutex_);
  for (auto& [name, room] : rooms_) room->stop();
  for (auto& [name, room] : rooms_) {
    while (!room->finished() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
}

void RoomRegistry::release_all_after_stop() {
  std::lock_guard lock(mutex_);
  for (auto& [name, room] : rooms_) room->release_subscribers_after_stop();
}

}  // namespace chatd
