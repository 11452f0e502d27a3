#include "server/room_registry.hpp"

#include <thread>

#include "server/log.hpp"

namespace chatd {

RoomRegistry::RoomRegistry(const config::Rooms& settings, const config::History& history, HistoryStore& store,
                           WorkerPool& workers)
    : settings_(settings), history_(history), store_(store), workers_(workers) {
  std::lock_guard lock(mutex_);
  for (const auto& name : settings_.names) add_locked(name, store_.load(name));
  if (!rooms_.count(settings_.default_room))
    add_locked(settings_.default_room, store_.load(settings_.default_room));
}

std::shared_ptr<Room> RoomRegistry::add_locked(const std::string& name, HistoryStore::RoomHistory history) {
  auto room = std::make_shared<Room>(name, workers_.next().context(), store_, history_, std::move(history));
  rooms_.emplace(name, room);
  room->start();
  return room;
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
  const auto refuse = [&result](int status, std::string error) {
    result.status = status;
    result.error = std::move(error);
    return result;
  };
  const auto limit_reached = [this] {
    return "room limit reached (rooms.max = " + std::to_string(settings_.max) + ")";
  };
  {
    std::lock_guard lock(mutex_);
    if (auto found = rooms_.find(key); found != rooms_.end()) {
      result.room = found->second;
      return result;
    }
    if (!settings_.dynamic) return refuse(404, "no room named \"" + key + "\"");
    if (rooms_.size() >= settings_.max) return refuse(503, limit_reached());
  }
  // The database is read without holding the registry: other lookups go on meanwhile.
  HistoryStore::RoomHistory history;
  try {
    if (only_existing && !store_.knows(key)) return refuse(404, "no room named \"" + key + "\"");
    history = store_.load(key);
  } catch (const StoreError& error) {
    log::error("history: ", error.what());
    return refuse(503, "the history of room \"" + key + "\" cannot be read");
  }
  std::lock_guard lock(mutex_);
  // Someone may have made it meanwhile (from the same stored history, so with the same epoch).
  if (auto found = rooms_.find(key); found != rooms_.end()) {
    result.room = found->second;
    return result;
  }
  if (rooms_.size() >= settings_.max) return refuse(503, limit_reached());
  result.room = add_locked(key, std::move(history));
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
