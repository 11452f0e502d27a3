// LocalEngine on its own, over a fake store that records appends and commits when told: ids per room,
// one append per commit, and when the publisher hears its id (batch: at once; sync: after the commit).
#include <doctest/doctest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <asio/io_context.hpp>

#include "server/engine/local_engine.hpp"

using namespace chatd;

namespace {

class FakeStore : public HistoryStore {
 public:
  struct Append {
    std::string room;
    std::vector<SharedEvent> events;
    std::uint64_t kept_from;
    Committed committed;
  };
  RoomHistory load(const std::string&) override { return {}; }
  bool knows(const std::string&) override { return false; }
  void append(const std::string& room, std::vector<SharedEvent> events, std::uint64_t kept_from,
              Committed committed) override {
    appends.push_back({room, std::move(events), kept_from, std::move(committed)});
  }
  void close() override {}

  std::vector<Append> appends;
};

config::History with(config::History::Durability durability) {
  config::History settings;
  settings.store = config::History::Store::memory;
  settings.durability = durability;
  return settings;
}

std::vector<std::uint64_t> ids(const std::vector<SharedEvent>& events) {
  std::vector<std::uint64_t> found;
  for (const auto& event : events) found.push_back(event->id);
  return found;
}

// The id a reply was answered with; 0 when it has no answer yet, and the error in `error`.
std::uint64_t answer(PublishReply& reply, asio::error_code* error = nullptr) {
  std::uint64_t answered = 0;
  reply.try_receive([&](asio::error_code ec, std::uint64_t id) {
    answered = id;
    if (error) *error = ec;
  });
  return answered;
}

}  // namespace

TEST_CASE("local engine: ids after the loaded history, consecutive across batches and kinds") {
  FakeStore store;
  const auto settings = with(config::History::Durability::batch);
  LocalEngine engine("ops", store, settings, {"e1", 41, {}});
  const auto loaded = engine.take_loaded_history();
  CHECK(loaded.epoch == "e1");
  CHECK(loaded.last_id == 41);
  CHECK(engine.take_loaded_history().epoch.empty());  // once

  std::vector<SharedEvent> numbered;
  std::vector<std::string> texts = {"a", "b"};
  engine.sequence(EventType::message, "alice", texts, 1000, numbered);
  std::vector<std::string> none = {""};
  engine.sequence(EventType::leave, "bob", none, 1001, numbered);
  REQUIRE(ids(numbered) == std::vector<std::uint64_t>{42, 43, 44});
  CHECK(numbered[0]->text == "a");
  CHECK(numbered[0]->name == "alice");
  CHECK(numbered[0]->ts == 1000);
  CHECK(numbered[2]->type == EventType::leave);
  CHECK(numbered[2]->name == "bob");

  std::shared_ptr<PublishReply> no_reply;
  engine.commit(no_reply, 40);
  REQUIRE(store.appends.size() == 1);
  CHECK(store.appends[0].room == "ops");
  CHECK(store.appends[0].events == numbered);  // the same events, shared, not copies
  CHECK(store.appends[0].kept_from == 40);

  numbered.clear();
  std::vector<std::string> more = {"c"};
  engine.sequence(EventType::message, "alice", more, 1002, numbered);
  CHECK(ids(numbered) == std::vector<std::uint64_t>{45});
  engine.commit(no_reply, 40);
  REQUIRE(store.appends.size() == 2);
  CHECK(ids(store.appends[1].events) == std::vector<std::uint64_t>{45});
}

TEST_CASE("local engine: batch durability answers the publisher at once with its first id") {
  asio::io_context context;
  FakeStore store;
  const auto settings = with(config::History::Durability::batch);
  LocalEngine engine("ops", store, settings, {"e1", 9, {}});
  std::vector<SharedEvent> numbered;
  std::vector<std::string> texts = {"a", "b"};
  engine.sequence(EventType::message, "alice", texts, 1, numbered);
  auto reply = std::make_shared<PublishReply>(context, 1);
  auto held = reply;
  engine.commit(held, 10);
  CHECK(held == nullptr);  // let go of: answered
  CHECK(answer(*reply) == 10);
  REQUIRE(store.appends.size() == 1);
  // The publisher does not wait for the disk; the callback only counts the events down, for a reclaimed
  // room to be reloaded once they are stored (Engine::all_stored).
  REQUIRE(store.appends[0].committed);
  CHECK_FALSE(engine.all_stored());
  store.appends[0].committed(true);
  CHECK(engine.all_stored());
  CHECK_FALSE(reply->ready());  // answered once, not again
}

TEST_CASE("local engine: sync durability answers only once the store committed, or with an error") {
  asio::io_context context;
  FakeStore store;
  const auto settings = with(config::History::Durability::sync);
  LocalEngine engine("ops", store, settings, {"e1", 0, {}});
  std::vector<SharedEvent> numbered;
  for (const bool ok : {true, false}) {
    std::vector<std::string> texts = {"a"};
    engine.sequence(EventType::message, "alice", texts, 1, numbered);
    auto reply = std::make_shared<PublishReply>(context, 1);
    auto held = reply;
    engine.commit(held, 1);
    CHECK(held == nullptr);  // handed to the store
    CHECK(answer(*reply) == 0);
    store.appends.back().committed(ok);
    asio::error_code error;
    CHECK(answer(*reply, &error) == numbered.back()->id);
    CHECK(error == (ok ? asio::error_code{} : asio::error::no_recovery));
  }
}

TEST_CASE("local engine: a commit with nothing numbered appends nothing and still answers") {
  asio::io_context context;
  FakeStore store;
  const auto settings = with(config::History::Durability::sync);
  LocalEngine engine("ops", store, settings, {"e1", 7, {}});
  auto reply = std::make_shared<PublishReply>(context, 1);
  auto held = reply;
  engine.commit(held, 8);
  CHECK(store.appends.empty());
  CHECK(held == nullptr);
  CHECK(answer(*reply) == 8);
}
