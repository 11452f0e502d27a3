// Rooms by name: the configured ones, plus rooms made on first use when rooms.dynamic is on,
// up to rooms.max.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include <asio/awaitable.hpp>
#include <asio/thread_pool.hpp>

#include "config/config.hpp"
#include "server/core/worker_pool.hpp"
#include "server/engine/engine_factory.hpp"
#include "server/rooms/room.hpp"
#include "server/rooms/room_error.hpp"
#include "server/store/history_store.hpp"

namespace chatd {

class RoomRegistry {
 public:
  // Makes the configured rooms, loading their history through `engines`: throws StoreError when the store
  // cannot, EngineUnavailable when Redis cannot be reached.
  RoomRegistry(const config::Rooms& settings, const config::History& history, const config::Limits& limits,
               EngineFactory& engines, WorkerPool& workers);

  struct Lookup {
    std::shared_ptr<Room> room;  // null on failure, with the reason in `refusal`
    RoomRefusal refusal;
  };
  // Asked, under the registry's lock, when a request would make a room live that is not (a new room, or
  // one loaded from the store): zero lets it, anything else is how long the caller must wait, and the
  // request is refused with RoomError::creating_too_fast. The caller keeps the policy (rooms.create_rate
  // per remote address, server/http); empty = no limit. Called on the requesting worker's thread; it must
  // not call back into the registry.
  using CreationGate = std::function<std::chrono::steady_clock::duration()>;
  // From a coroutine on any worker. Makes the room on first use when rooms are dynamic. A room not made
  // yet is read from the store on the registry's loader thread: the worker serves its other
  // connections meanwhile. The gate is asked before the store is read.
  asio::awaitable<Lookup> find(std::string name, CreationGate gate = {});
  // The same, but only for a room that is live or has a stored history: asking about a room makes none.
  // The gate is asked only once the store has the room, so asking about rooms that do not exist is free.
  asio::awaitable<Lookup> find_existing(std::string name, CreationGate gate = {});

  // Reclaims idle rooms: a room not in rooms.names (nor rooms.default) that had no subscriber and no
  // lookup for rooms.idle_timeout up to `now` is let go of: no lookup finds it any more, and its actor is
  // asked to end (Room::stop_if_idle), which it does only if it is idle on its own thread too; if not, it is
  // put back. A lookup of that name meanwhile waits for the actor to end and its events to be stored, then
  // loads it from the store. Any thread (the server's sweep timer); `now` is injected for tests. Returns
  // how many rooms were asked to end.
  std::size_t reclaim_idle(std::chrono::steady_clock::time_point now);

  std::size_t size();
  // Any thread: the live rooms, by name (the admin listener's GET /admin/rooms).
  std::vector<std::shared_ptr<Room>> live_rooms();
  // Any thread: the rooms whose actor has ended. While the server runs there should be none.
  std::vector<std::string> stopped_rooms();
  // Waits for loads in progress, closes every inbox and waits (until `deadline`) for the actors to end.
  void stop_all(std::chrono::steady_clock::time_point deadline);
  // After the worker threads are joined: see Room::release_subscribers_after_stop.
  void release_all_after_stop();

 private:
  asio::awaitable<Lookup> find(std::string name, bool only_existing, CreationGate gate);
  // Under mutex_: the gate's refusal, if it refuses.
  static std::optional<Lookup> refused_by(const CreationGate& gate);
  // Under mutex_: the room if it is made, a refusal, or nothing: then it must be loaded (or, with
  // `only_existing`, looked up in the store first).
  std::optional<Lookup> find_made_locked(const std::string& name, bool only_existing);
  bool full();                                      // takes mutex_
  bool made_already(const std::string& name);       // takes mutex_
  bool always_live(const std::string& name) const;  // rooms.names and rooms.default
  // The room's actor would not end (not idle after all): back into rooms_. Takes mutex_.
  void keep(const std::shared_ptr<Room>& room);
  // Loader thread: until `previous` (reclaimed) has ended with every event stored, or was kept. False
  // when it did neither in time.
  bool wait_until_reclaimed(const std::shared_ptr<Room>& previous);
  std::shared_ptr<Room> add_locked(const std::string& name, std::unique_ptr<Engine> engine);

  const config::Rooms& settings_;
  const config::History& history_;
  const config::Limits& limits_;
  EngineFactory& engines_;
  WorkerPool& workers_;
  // limits.max_queued_bytes, for every room's subscribers together.
  std::shared_ptr<QueueBudget> queue_budget_;
  std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<Room>> rooms_;
  // Dynamic rooms: when each last had a lookup or a subscriber (at a sweep).
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> last_used_;
  // Rooms let go of by reclaim_idle whose actor has not ended yet (or has, with events still being stored).
  std::unordered_map<std::string, std::shared_ptr<Room>> reclaiming_;
  asio::thread_pool loader_{1};  // reads rooms' histories from the store
};

}  // namespace chatd
