#include "server/rooms/room_registry.hpp"

#include <algorithm>
#include <thread>

#include <asio/experimental/concurrent_channel.hpp>
#include <asio/post.hpp>
#include <asio/this_coro.hpp>

#include "server/core/log.hpp"
#include "server/core/thread_name.hpp"
#include "server/core/use_nothrow_awaitable.hpp"

namespace chatd {

RoomRegistry::RoomRegistry(const config::Rooms& settings, const config::History& history,
                           const config::Limits& limits, EngineFactory& engines, WorkerPool& workers)
    : settings_(settings),
      history_(history),
      limits_(limits),
      engines_(engines),
      workers_(workers),
      queue_budget_(std::make_shared<QueueBudget>(limits.max_queued_bytes)) {
  asio::post(loader_, [] { name_this_thread("room-loader"); });
  std::lock_guard lock(mutex_);
  for (const auto& name : settings_.names) add_locked(name, engines_.load(name));
  if (!rooms_.count(settings_.default_room))
    add_locked(settings_.default_room, engines_.load(settings_.default_room));
}

std::shared_ptr<Room> RoomRegistry::add_locked(const std::string& name, std::unique_ptr<Engine> engine) {
  Engine& engine_of_room = *engine;
  auto room = std::make_shared<Room>(name, workers_.next().context(), std::move(engine), history_,
                                     limits_.max_message_size, queue_budget_);
  rooms_.emplace(name, room);
  reclaiming_.erase(name);  // a reclaimed room's actor has ended by now (wait_until_reclaimed)
  if (!always_live(name)) last_used_[name] = std::chrono::steady_clock::now();
  room->start();
  // Events numbered on other nodes come in from the engine's thread, held back when the inbox is full.
  engine_of_room.deliver_to([weak = std::weak_ptr<Room>(room)](SequencedBatch& batch) {
    const auto target = weak.lock();
    if (!target) return false;
    RoomCommand command =
        DeliverSequenced{std::move(batch.events), std::move(batch.epoch), batch.reset, batch.last};
    if (target->try_send(command)) return true;
    auto& refused = std::get<DeliverSequenced>(command);  // untouched: give the batch back
    batch.events = std::move(refused.events);
    batch.epoch = std::move(refused.epoch);
    return false;
  });
  return room;
}

asio::awaitable<RoomRegistry::Lookup> RoomRegistry::find(std::string name, CreationGate gate) {
  return find(std::move(name), false, std::move(gate));
}

asio::awaitable<RoomRegistry::Lookup> RoomRegistry::find_existing(std::string name, CreationGate gate) {
  return find(std::move(name), true, std::move(gate));
}

namespace {

RoomRegistry::Lookup refused(RoomRefusal refusal) {
  return {nullptr, std::move(refusal)};
}

RoomRefusal no_such_room(const std::string& name) {
  return {RoomError::no_such_room, name};
}

RoomRefusal room_limit_reached(std::size_t max) {
  return {RoomError::room_limit_reached, std::to_string(max)};
}

}  // namespace

std::optional<RoomRegistry::Lookup> RoomRegistry::find_made_locked(const std::string& name,
                                                                   bool only_existing) {
  if (auto found = rooms_.find(name); found != rooms_.end()) {
    if (auto used = last_used_.find(name); used != last_used_.end())
      used->second = std::chrono::steady_clock::now();
    return Lookup{found->second, {}};
  }
  if (!settings_.dynamic) return refused(no_such_room(name));
  // Asking about a room that does not exist is 404 whatever the limit: the store says which it is.
  if (rooms_.size() >= settings_.max && !only_existing) return refused(room_limit_reached(settings_.max));
  return std::nullopt;
}

std::optional<RoomRegistry::Lookup> RoomRegistry::refused_by(const CreationGate& gate) {
  if (!gate) return std::nullopt;
  const auto wait = gate();
  if (wait <= std::chrono::steady_clock::duration::zero()) return std::nullopt;
  const auto seconds = std::max<long long>(1, std::chrono::ceil<std::chrono::seconds>(wait).count());
  return refused({RoomError::creating_too_fast, std::to_string(seconds)});
}

bool RoomRegistry::always_live(const std::string& name) const {
  return name == settings_.default_room ||
         std::find(settings_.names.begin(), settings_.names.end(), name) != settings_.names.end();
}

std::size_t RoomRegistry::reclaim_idle(std::chrono::steady_clock::time_point now) {
  std::vector<std::shared_ptr<Room>> asked;
  {
    std::lock_guard lock(mutex_);
    for (auto it = reclaiming_.begin(); it != reclaiming_.end();) {
      if (it->second->finished() && it->second->all_stored())
        it = reclaiming_.erase(it);
      else
        ++it;
    }
    for (auto it = rooms_.begin(); it != rooms_.end();) {
      const auto used = last_used_.find(it->first);
      if (used == last_used_.end()) {  // rooms.names and rooms.default stay
        ++it;
        continue;
      }
      // A room with subscribers is in use now; its idle time starts when the last one leaves.
      if (it->second->members() > 0) used->second = std::max(used->second, now);
      if (it->second->members() > 0 || now - used->second < settings_.idle_timeout) {
        ++it;
        continue;
      }
      asked.push_back(it->second);
      reclaiming_[it->first] = it->second;
      last_used_.erase(used);
      it = rooms_.erase(it);
    }
  }
  for (auto& room : asked) {
    room->stop_if_idle([this, room](bool stopped) {
      if (!stopped) keep(room);
    });
  }
  return asked.size();
}

void RoomRegistry::keep(const std::shared_ptr<Room>& room) {
  std::lock_guard lock(mutex_);
  if (auto reclaimed = reclaiming_.find(room->name());
      reclaimed != reclaiming_.end() && reclaimed->second == room)
    reclaiming_.erase(reclaimed);
  if (rooms_.emplace(room->name(), room).second) last_used_[room->name()] = std::chrono::steady_clock::now();
}

bool RoomRegistry::wait_until_reclaimed(const std::shared_ptr<Room>& previous) {
  // The actor ends within one round; the store commits within history.flush_interval.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    if (previous->finished() && previous->all_stored()) return true;
    {
      std::lock_guard lock(mutex_);
      const auto reclaimed = reclaiming_.find(previous->name());
      if (reclaimed == reclaiming_.end() || reclaimed->second != previous) return true;  // kept, or gone
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

bool RoomRegistry::made_already(const std::string& name) {
  std::lock_guard lock(mutex_);
  return rooms_.count(name) > 0;
}

bool RoomRegistry::full() {
  std::lock_guard lock(mutex_);
  return rooms_.size() >= settings_.max;
}

asio::awaitable<RoomRegistry::Lookup> RoomRegistry::find(std::string name, bool only_existing,
                                                         CreationGate gate) {
  if (!config::is_valid_room_name(name)) co_return refused({RoomError::invalid_name, {}});
  {
    std::lock_guard lock(mutex_);
    if (auto made = find_made_locked(name, only_existing)) co_return std::move(*made);
    // A token is spent before the store is read, so requests past the rate cost no load. Should the load
    // fail, or another request make the room meanwhile, the token stays spent: the bound holds either way.
    if (!only_existing) {
      if (auto refusal = refused_by(gate)) co_return std::move(*refusal);
    }
  }

  // Read the store on the loader thread; the answer comes back through a channel on our executor.
  struct Loaded {
    std::unique_ptr<Engine> engine;
    RoomRefusal refusal;  // RoomError::none: loaded
  };
  using Reply = asio::experimental::concurrent_channel<void(asio::error_code, std::shared_ptr<Loaded>)>;
  auto reply = std::make_shared<Reply>(co_await asio::this_coro::executor, 1);
  std::shared_ptr<Room> previous;  // the same room, being reclaimed
  {
    std::lock_guard lock(mutex_);
    if (auto reclaimed = reclaiming_.find(name); reclaimed != reclaiming_.end()) previous = reclaimed->second;
  }
  asio::post(loader_, [this, name, only_existing, reply, previous] {
    // Nothing may escape this thread: an exception here would end the process. Memory running out is
    // answered as such, and only this request fails.
    std::shared_ptr<Loaded> loaded;
    try {
      loaded = std::make_shared<Loaded>();
      try {
        // Loaded only once the reclaimed actor has ended and its events are stored: with SQLite the room
        // then continues with the same epoch after its last id. The memory store gives every load a new
        // epoch (its events are gone), so an (epoch, id) pair never names two events either way.
        if (previous && !wait_until_reclaimed(previous)) {
          loaded->refusal = {RoomError::stopping, {}};
        } else if (made_already(name)) {
          // Made by an earlier load while this one waited in the loader's queue (many clients of one room
          // at once: a reconnect storm): the room is read once, not once per client.
        } else if (only_existing && !engines_.knows(name)) {
          loaded->refusal = no_such_room(name);
        } else if (full()) {
          loaded->refusal = room_limit_reached(settings_.max);  // before reading a history to no end
        } else {
          loaded->engine = engines_.load(name);
        }
      } catch (const StoreError& error) {
        log::error("history: ", error.what());
        loaded->refusal = {RoomError::history_unreadable, name};
      } catch (const EngineUnavailable& error) {
        log::warn("room ", name, ": ", error.what());
        loaded->refusal = {RoomError::engine_unavailable, name};
      }
    } catch (const std::exception&) {
      loaded = nullptr;
    }
    reply->try_send(loaded ? asio::error_code{} : asio::error::no_memory, std::move(loaded));
  });
  auto [ec, loaded] = co_await reply->async_receive(use_nothrow_awaitable);
  if (ec == asio::error::no_memory) co_return refused({RoomError::out_of_memory, {}});
  if (ec || !loaded) co_return refused({RoomError::stopping, {}});
  if (loaded->refusal.error != RoomError::none) co_return refused(std::move(loaded->refusal));

  {
    std::lock_guard lock(mutex_);
    // Someone may have made it meanwhile (from the same stored history, so with the same epoch), or
    // the limit may have been reached.
    if (auto made = find_made_locked(name, false)) co_return std::move(*made);
    if (loaded->engine) {
      if (only_existing) {
        if (auto refusal = refused_by(gate)) co_return std::move(*refusal);
      }
      co_return Lookup{add_locked(name, std::move(loaded->engine)), {}};
    }
  }
  // The loader found it made (no engine read), and it was let go of (reclaimed) since: look it up again.
  auto again = find(std::move(name), only_existing, std::move(gate));
  co_return co_await std::move(again);
}

std::size_t RoomRegistry::size() {
  std::lock_guard lock(mutex_);
  return rooms_.size();
}

std::vector<std::shared_ptr<Room>> RoomRegistry::live_rooms() {
  std::vector<std::shared_ptr<Room>> live;
  {
    std::lock_guard lock(mutex_);
    live.reserve(rooms_.size());
    for (const auto& [name, room] : rooms_) live.push_back(room);
  }
  std::sort(live.begin(), live.end(), [](const auto& a, const auto& b) { return a->name() < b->name(); });
  return live;
}

std::vector<std::string> RoomRegistry::stopped_rooms() {
  std::lock_guard lock(mutex_);
  std::vector<std::string> stopped;
  for (const auto& [name, room] : rooms_) {
    if (room->finished()) stopped.push_back(name);
  }
  return stopped;
}

void RoomRegistry::stop_all(std::chrono::steady_clock::time_point deadline) {
  loader_.join();  // the store closes next: no load may still be reading it
  std::lock_guard lock(mutex_);
  for (auto* rooms : {&rooms_, &reclaiming_}) {
    for (auto& [name, room] : *rooms) room->stop();
  }
  for (auto* rooms : {&rooms_, &reclaiming_}) {
    for (auto& [name, room] : *rooms) {
      while (!room->finished() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
  }
}

void RoomRegistry::release_all_after_stop() {
  std::lock_guard lock(mutex_);
  for (auto* rooms : {&rooms_, &reclaiming_}) {
    for (auto& [name, room] : *rooms) room->release_subscribers_after_stop();
  }
}

}  // namespace chatd
