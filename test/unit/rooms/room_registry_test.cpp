// server/rooms/room_registry: reclaiming idle rooms with an injected sweep time, and the creation gate. Real
// rooms on a real worker thread over the memory store.
#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include <asio/co_spawn.hpp>
#include <asio/use_future.hpp>

#include "server/rooms/room_registry.hpp"
#include "server/store/memory_history_store.hpp"

using namespace chatd;
using namespace std::chrono_literals;

namespace {

struct Registry {
  Registry() {
    settings.names = {"general"};
    settings.idle_timeout = 1s;
    history.store = config::History::Store::memory;
    workers.start();
  }
  ~Registry() {
    rooms.stop_all(std::chrono::steady_clock::now() + 1s);
    workers.stop();
    workers.join();
    rooms.release_all_after_stop();
  }
  RoomRegistry::Lookup find(const std::string& name, RoomRegistry::CreationGate gate = {}) {
    return asio::co_spawn(workers.at(0).context(), rooms.find(name, std::move(gate)), asio::use_future).get();
  }

  config::Rooms settings;
  config::History history;
  config::Limits limits;
  MemoryHistoryStore store;
  LocalEngineFactory engines{store, history};
  WorkerPool workers{1, std::chrono::milliseconds(10)};
  RoomRegistry rooms{settings, history, limits, engines, workers};
};

bool ends_within(const std::shared_ptr<Room>& room, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!room->finished() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  return room->finished();
}

}  // namespace

TEST_CASE("registry: an idle dynamic room is reclaimed after idle_timeout, and made again on request") {
  Registry test;
  const auto first = test.find("dyn").room;
  REQUIRE(first);
  CHECK(test.rooms.size() == 2);
  const auto now = std::chrono::steady_clock::now();
  CHECK(test.rooms.reclaim_idle(now) == 0);  // just used
  CHECK(test.rooms.reclaim_idle(now + 500ms) == 0);
  CHECK(test.rooms.reclaim_idle(now + 1500ms) == 1);
  CHECK(test.rooms.size() == 1);
  CHECK(ends_within(first, 1000ms));
  CHECK(test.rooms.stopped_rooms().empty());  // a reclaimed room is not a stopped one
  const auto again = test.find("dyn").room;
  REQUIRE(again);
  CHECK(again != first);
  CHECK_FALSE(again->finished());
  CHECK(test.rooms.size() == 2);
}

TEST_CASE("registry: a lookup keeps a room in use; rooms.names and rooms.default are never reclaimed") {
  Registry test;
  const auto room = test.find("dyn").room;
  const auto far = std::chrono::steady_clock::now() + 1h;
  CHECK(test.rooms.reclaim_idle(std::chrono::steady_clock::now() + 900ms) == 0);
  CHECK(test.find("dyn").room == room);  // used again: idle time starts over
  CHECK(test.rooms.reclaim_idle(far) == 1);
  CHECK(test.rooms.reclaim_idle(far + 1h) == 0);
  CHECK(test.rooms.size() == 1);
  CHECK(test.find("general").room);
}

TEST_CASE(
    "registry: the creation gate is asked for a room not live only, and its refusal is creating_too_fast") {
  Registry test;
  int asked = 0;
  const auto refuse = [&asked] {
    ++asked;
    return std::chrono::steady_clock::duration(1500ms);
  };
  const auto refused = test.find("new", refuse);
  CHECK_FALSE(refused.room);
  CHECK(refused.refusal.error == RoomError::creating_too_fast);
  CHECK(refused.refusal.detail == "2");  // whole seconds, rounded up
  CHECK(asked == 1);
  CHECK(test.find("general", refuse).room);  // live: not asked
  CHECK(asked == 1);
  const auto allow = [&asked] {
    ++asked;
    return std::chrono::steady_clock::duration::zero();
  };
  CHECK(test.find("new", allow).room);
  CHECK(asked == 2);
  CHECK(test.find("new", refuse).room);  // live now
  CHECK(asked == 2);
}
