// The history stores on their own: SQLite in a temporary folder, and the memory store. No sockets.
#include <doctest/doctest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>

#include "server/store/history_store.hpp"

using namespace std::chrono_literals;
using chatd::EventType;
using chatd::HistoryStore;
using chatd::SharedEvent;
using chatd::StoredEvent;
using chatd::StoreError;

namespace fs = std::filesystem;

namespace {

class TempFolder {
 public:
  TempFolder() {
    std::string path = (fs::temp_directory_path() / "chatd_store_test_XXXXXX").string();
    REQUIRE(mkdtemp(path.data()) != nullptr);
    path_ = path;
  }
  ~TempFolder() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

chatd::config::History sqlite_at(const std::string& path) {
  chatd::config::History settings;
  settings.path = path;
  settings.flush_interval = 5ms;
  return settings;
}

SharedEvent event(std::uint64_t id, EventType type, std::string name, std::string text = "") {
  return std::make_shared<const StoredEvent>(
      StoredEvent{id, chatd::event_time_now(), type, std::move(name), std::move(text)});
}

// Appends and waits for the writer's verdict.
bool append_and_wait(HistoryStore& store, const std::string& room, std::vector<SharedEvent> events,
                     std::uint64_t kept_from) {
  auto done = std::make_shared<std::promise<bool>>();
  auto verdict = done->get_future();
  store.append(room, std::move(events), kept_from, [done](bool ok) { done->set_value(ok); });
  REQUIRE(verdict.wait_for(5s) == std::future_status::ready);
  return verdict.get();
}

}  // namespace

TEST_CASE("SQLite store: a new room gets an epoch at once; events and ids come back after reopening") {
  TempFolder folder;
  const auto settings = sqlite_at(folder.file("chat.db"));
  std::string epoch;
  {
    auto store = chatd::open_history_store(settings);
    CHECK(!store->knows("ops"));
    const auto fresh = store->load("ops");
    CHECK(fresh.epoch.size() == 16);
    CHECK(fresh.epoch.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(fresh.last_id == 0);
    CHECK(fresh.events.empty());
    CHECK(store->knows("ops"));  // the epoch is stored before any event
    epoch = fresh.epoch;
    CHECK(append_and_wait(
        *store, "ops",
        {event(1, EventType::join, "alice"), event(2, EventType::message, "alice", "hi \"there\""),
         event(3, EventType::leave, "alice")},
        1));
    store->close();
  }
  auto store = chatd::open_history_store(settings);
  const auto again = store->load("ops");
  CHECK(again.epoch == epoch);
  CHECK(again.last_id == 3);
  REQUIRE(again.events.size() == 3);
  CHECK(again.events[0]->type == EventType::join);
  CHECK(again.events[1]->id == 2);
  CHECK(again.events[1]->name == "alice");
  CHECK(again.events[1]->text == "hi \"there\"");
  CHECK(again.events[2]->type == EventType::leave);
  CHECK(store->load("other").epoch != epoch);  // every room has its own
}

TEST_CASE("SQLite store: what the room no longer keeps is deleted; loading keeps the newest max_events") {
  TempFolder folder;
  auto settings = sqlite_at(folder.file("chat.db"));
  {
    auto store = chatd::open_history_store(settings);
    store->load("r");
    std::vector<SharedEvent> events;
    for (std::uint64_t id = 1; id <= 10; ++id) events.push_back(event(id, EventType::message, "bot", "m"));
    CHECK(append_and_wait(*store, "r", std::move(events), 4));  // the room keeps 4..10
    store->close();
  }
  {
    auto store = chatd::open_history_store(settings);
    const auto kept = store->load("r");
    REQUIRE(kept.events.size() == 7);
    CHECK(kept.events.front()->id == 4);
    CHECK(kept.last_id == 10);
    store->close();
  }
  settings.max_events = 3;
  auto store = chatd::open_history_store(settings);
  const auto newest = store->load("r");
  REQUIRE(newest.events.size() == 3);
  CHECK(newest.events.front()->id == 8);
  CHECK(newest.events.back()->id == 10);
}

TEST_CASE("SQLite store: one transaction of many rooms' events stores each, in rows of 16 and one by one") {
  TempFolder folder;
  auto settings = sqlite_at(folder.file("chat.db"));
  settings.flush_interval = 200ms;  // every append below lands in one batch
  {
    auto store = chatd::open_history_store(settings);
    std::vector<std::future<bool>> verdicts;
    // 3 rooms x 13 events, appended interleaved: 39 rows, two statements of 16 and 7 single rows.
    for (const char* room : {"a", "b", "c"}) store->load(room);
    for (std::uint64_t id = 1; id <= 13; ++id) {
      for (const std::string room : {"a", "b", "c"}) {
        auto done = std::make_shared<std::promise<bool>>();
        verdicts.push_back(done->get_future());
        store->append(room, {event(id, EventType::message, "n" + room, room + std::to_string(id))}, 1,
                      [done](bool ok) { done->set_value(ok); });
      }
    }
    for (auto& verdict : verdicts) {
      REQUIRE(verdict.wait_for(5s) == std::future_status::ready);
      CHECK(verdict.get());
    }
    store->close();
  }
  auto store = chatd::open_history_store(settings);
  for (const std::string room : {"a", "b", "c"}) {
    CAPTURE(room);
    const auto history = store->load(room);
    CHECK(history.last_id == 13);
    REQUIRE(history.events.size() == 13);
    for (std::uint64_t id = 1; id <= 13; ++id) {
      CHECK(history.events[id - 1]->id == id);
      CHECK(history.events[id - 1]->name == "n" + room);
      CHECK(history.events[id - 1]->text == room + std::to_string(id));
    }
  }
}

TEST_CASE("SQLite store: a room whose kept window has not moved is not trimmed again; one that moves is") {
  TempFolder folder;
  const auto settings = sqlite_at(folder.file("chat.db"));
  {
    auto store = chatd::open_history_store(settings);
    store->load("r");
    std::vector<SharedEvent> first;
    for (std::uint64_t id = 1; id <= 6; ++id) first.push_back(event(id, EventType::message, "bot", "m"));
    CHECK(append_and_wait(*store, "r", std::move(first), 3));                            // keeps 3..6
    CHECK(append_and_wait(*store, "r", {event(7, EventType::message, "bot", "m")}, 3));  // not moved
    CHECK(append_and_wait(*store, "r", {event(8, EventType::message, "bot", "m")}, 5));  // keeps 5..8
    store->close();
  }
  auto store = chatd::open_history_store(settings);
  const auto kept = store->load("r");
  REQUIRE(kept.events.size() == 4);
  CHECK(kept.events.front()->id == 5);
  CHECK(kept.events.back()->id == 8);
  CHECK(kept.last_id == 8);
}

// The newest id lives in the room's newest row; rooms.last_id is written only when a trim may take that
// row. Both ways a room can lose every row must still continue its ids after reopening.
TEST_CASE("SQLite store: a room trimmed to no rows continues its ids after reopening") {
  TempFolder folder;
  auto settings = sqlite_at(folder.file("chat.db"));
  {
    auto store = chatd::open_history_store(settings);
    store->load("kept-none");
    store->load("aged");
    // Older than max_age: the age trim deletes them all (the store's first commit runs one, after its
    // inserts; later ones run at most once a second).
    const auto old = chatd::event_time_now() - settings.max_age.count() - 60000;
    std::vector<SharedEvent> aged;
    for (std::uint64_t id = 1; id <= 7; ++id)
      aged.push_back(
          std::make_shared<const StoredEvent>(StoredEvent{id, old, EventType::message, "bot", "m"}));
    CHECK(append_and_wait(*store, "aged", std::move(aged), 1));
    std::vector<SharedEvent> events;
    for (std::uint64_t id = 1; id <= 5; ++id) events.push_back(event(id, EventType::message, "bot", "m"));
    CHECK(append_and_wait(*store, "kept-none", std::move(events), 6));  // the room keeps nothing
    store->close();
  }
  auto store = chatd::open_history_store(settings);
  const auto kept_none = store->load("kept-none");
  CHECK(kept_none.events.empty());
  CHECK(kept_none.last_id == 5);
  const auto aged = store->load("aged");
  CHECK(aged.events.empty());
  CHECK(aged.last_id == 7);
}

TEST_CASE("SQLite store: a file that is not a database is refused, naming history.path") {
  TempFolder folder;
  const std::string path = folder.file("chat.db");
  std::ofstream(path) << std::string(8192, 'x');
  try {
    chatd::open_history_store(sqlite_at(path));
    FAIL("a garbage file was opened as a database");
  } catch (const StoreError& error) {
    const std::string message = error.what();
    CHECK(message.find("history.path '" + path + "'") != std::string::npos);
    CHECK(message.find("not a database") != std::string::npos);
  }
  CHECK_THROWS_AS(chatd::open_history_store(sqlite_at(folder.file("missing/chat.db"))), StoreError);
}

TEST_CASE("memory store: nothing is kept, every load is a new history, appends are done at once") {
  chatd::config::History settings;
  settings.store = chatd::config::History::Store::memory;
  auto store = chatd::open_history_store(settings);
  const auto first = store->load("r");
  CHECK(first.last_id == 0);
  CHECK(store->load("r").epoch != first.epoch);
  CHECK(!store->knows("r"));
  bool committed = false;
  store->append("r", {event(1, EventType::message, "a", "b")}, 1, [&](bool ok) { committed = ok; });
  CHECK(committed);
}

// A disk that fills: the file-size limit (RLIMIT_FSIZE, SIGXFSZ ignored so a write past it fails with EFBIG
// instead of killing the process) stops the writer's next commit; failure() says so (GET /readyz) and clears
// once a commit succeeds again.
TEST_CASE("SQLite store: a commit that fails is reported by failure() until one succeeds") {
  TempFolder folder;
  const auto settings = sqlite_at(folder.file("chat.db"));
  auto store = chatd::open_history_store(settings);
  store->load("r");
  REQUIRE(append_and_wait(*store, "r", {event(1, EventType::message, "a", "first")}, 1));
  CHECK(store->failure().empty());

  const auto previous_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit previous{};
  REQUIRE(getrlimit(RLIMIT_FSIZE, &previous) == 0);
  std::uintmax_t largest = 0;
  for (const auto& entry : fs::directory_iterator(folder.file("")))
    largest = std::max(largest, entry.file_size());
  rlimit tight = previous;
  tight.rlim_cur = largest;  // nothing may grow
  REQUIRE(setrlimit(RLIMIT_FSIZE, &tight) == 0);
  std::vector<SharedEvent> big;
  for (std::uint64_t id = 2; id < 40; ++id)
    big.push_back(event(id, EventType::message, "a", std::string(60000, 'x')));
  const bool stored = append_and_wait(*store, "r", std::move(big), 1);
  const std::string failure = store->failure();
  REQUIRE(setrlimit(RLIMIT_FSIZE, &previous) == 0);
  std::signal(SIGXFSZ, previous_handler);
  CHECK_FALSE(stored);
  CHECK(failure.find("the last commit to " + settings.path + " failed: ") == 0);

  REQUIRE(append_and_wait(*store, "r", {event(40, EventType::message, "a", "after")}, 1));
  CHECK(store->failure().empty());
  store->close();
}
