// The room actor on its own: a real Room on an io_context run by the test thread, LocalEngine over the
// memory store, and fake subscribers whose queues the test drains. No sockets.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <asio/io_context.hpp>

#include "server/core/disconnect.hpp"
#include "server/engine/local_engine.hpp"
#include "server/rooms/room.hpp"
#include "server/store/history_store.hpp"

using namespace chatd;

namespace {

// What a frame the room queued carries. Server frames are unmasked: opcode, length, payload.
struct Frame {
  std::uint8_t opcode = 0;
  std::string payload;
};

Frame parse_frame(const std::string& bytes) {
  Frame frame;
  frame.opcode = static_cast<std::uint8_t>(bytes.at(0)) & 0x0f;
  const std::uint8_t length = static_cast<std::uint8_t>(bytes.at(1)) & 0x7f;
  const std::size_t header = length < 126 ? 2 : length == 126 ? 4 : 10;
  frame.payload = bytes.substr(header);
  return frame;
}

// The value of `"key":` in a flat JSON object, as written (strings without their quotes).
std::string field(const std::string& json, const std::string& key) {
  const std::string marker = "\"" + key + "\":";
  const auto at = json.find(marker);
  if (at == std::string::npos) return {};
  auto begin = at + marker.size();
  if (json[begin] == '"') return json.substr(begin + 1, json.find('"', begin + 1) - begin - 1);
  return json.substr(begin, json.find_first_of(",}", begin) - begin);
}

std::uint64_t id_of(const std::string& json) {
  return std::stoull(field(json, "id"));
}

// A subscriber that only counts its wake-ups (in one log shared by all, to see the order) and whose
// queue the test drains.
class FakeSubscriber : public Subscriber {
 public:
  FakeSubscriber(std::string name, std::vector<std::string>* wake_log, std::size_t limit = 1000,
                 EventFormat format = EventFormat::json, bool presence = true,
                 std::size_t queue_bytes = OutboundQueue::unbounded)
      : Subscriber(limit, format, std::move(name), presence, queue_bytes), wake_log_(wake_log) {}

  void wake_writer() override {
    ++wakes;
    if (wake_log_) wake_log_->push_back(name());
  }

  // Everything queued, in order; `closed_with` gets the close frame's payload, if one was queued.
  std::vector<std::string> drain() {
    std::vector<std::string> payloads;
    std::vector<SharedFrame> batch;
    bool ends_with_close = false;
    while (queue().take(batch, ends_with_close)) {
      for (const auto& bytes : batch) payloads.push_back(parse_frame(*bytes).payload);
      // The writer builds the close in its transport's shape; a WebSocket session's is this frame.
      if (ends_with_close)
        closed_with =
            parse_frame(protocol::close_frame(queue().close_code(), queue().close_reason())).payload;
      batch.clear();
    }
    return payloads;
  }

  // Everything queued, each entry's bytes as written: for an event stream, whose entries are SSE text.
  std::vector<std::string> drain_bytes() {
    std::vector<std::string> written;
    std::vector<SharedFrame> batch;
    bool ends_with_close = false;
    while (queue().take(batch, ends_with_close)) {
      for (const auto& bytes : batch) written.push_back(*bytes);
      batch.clear();
    }
    return written;
  }

  int wakes = 0;
  std::optional<std::string> closed_with;

 private:
  std::vector<std::string>* wake_log_;
};

// An engine that numbers elsewhere, as the Redis one will (engine.hpp): it numbers nothing on the room's
// thread, keeps the publishers' replies, and the test delivers numbered events with DeliverSequenced.
class DeferredEngine : public Engine {
 public:
  struct Request {
    EventType type;
    std::string name;
    std::vector<std::string> texts;
  };
  struct Log {
    std::vector<Request> requests;
    std::vector<std::shared_ptr<PublishReply>> replies;
    int commits = 0;
    bool fail_next = false;  // the next sequence() throws, as when memory runs out
  };
  explicit DeferredEngine(Log& log) : log_(log) {}

  HistoryStore::RoomHistory take_loaded_history() override { return {"epoch-r", 0, {}}; }
  void sequence(EventType type, const std::string& name, std::span<std::string> texts, std::int64_t,
                std::vector<SharedEvent>&) override {
    if (std::exchange(log_.fail_next, false)) throw std::runtime_error("out of memory (test)");
    log_.requests.push_back({type, name, {texts.begin(), texts.end()}});
  }
  void commit(std::shared_ptr<PublishReply>& reply, std::uint64_t) override {
    ++log_.commits;
    if (reply) log_.replies.push_back(std::exchange(reply, nullptr));
  }

 private:
  Log& log_;
};

struct RoomUnderTest {
  // LocalEngine over the memory store, starting from `last_id` and the `retained` events.
  explicit RoomUnderTest(std::uint64_t last_id = 0, std::vector<SharedEvent> retained = {},
                         std::size_t max_events = 10000)
      : settings(memory_settings(max_events)), store(open_history_store(settings)) {
    HistoryStore::RoomHistory history{"epoch-1", last_id, std::move(retained)};
    start(std::make_unique<LocalEngine>("lobby", *store, settings, std::move(history)));
  }
  explicit RoomUnderTest(std::unique_ptr<Engine> engine)
      : settings(memory_settings(10000)), store(open_history_store(settings)) {
    start(std::move(engine));
  }
  void start(std::unique_ptr<Engine> engine) {
    room = std::make_shared<Room>("lobby", context, std::move(engine), settings, 65536);
    room->start();
  }
  ~RoomUnderTest() {
    room->stop();
    run();
  }

  static config::History memory_settings(std::size_t max_events) {
    config::History settings;
    settings.store = config::History::Store::memory;
    settings.max_events = max_events;
    return settings;
  }

  // Runs what is ready on the room's io_context (the test thread is its only thread).
  void run() {
    context.restart();
    while (context.poll() > 0) {
    }
  }
  void queue(RoomCommand command) {
    while (!room->try_send(command)) run();  // the inbox is full (another thread publishes): let it drain
  }
  void send(RoomCommand command) {
    queue(std::move(command));
    run();
  }

  std::shared_ptr<FakeSubscriber> subscriber(const std::string& name, std::size_t limit = 1000,
                                             EventFormat format = EventFormat::json, bool presence = true) {
    return std::make_shared<FakeSubscriber>(name, &wake_log, limit, format, presence);
  }
  void join(const std::shared_ptr<FakeSubscriber>& subscriber, std::optional<std::uint64_t> since = {},
            std::string epoch = "") {
    send(JoinRoom{subscriber, since, std::move(epoch)});
  }
  static RoomCommand publish(const std::string& name, std::vector<std::string> texts,
                             std::shared_ptr<Subscriber> author = nullptr,
                             std::shared_ptr<PublishReply> reply = nullptr) {
    return PublishMessages{std::move(author), name, std::move(texts), std::move(reply)};
  }
  // The JSON body a query is answered with.
  std::string ask(RoomCommand command, std::shared_ptr<QueryReply> answer) {
    send(std::move(command));
    std::string body;
    REQUIRE(answer->try_receive([&](asio::error_code ec, std::string received) {
      CHECK(!ec);
      body = std::move(received);
    }));
    return body;
  }
  std::string presence() {
    auto answer = std::make_shared<QueryReply>(context, 1);
    return ask(PresenceQuery{answer}, answer);
  }

  asio::io_context context;
  config::History settings;
  std::unique_ptr<HistoryStore> store;
  std::shared_ptr<Room> room;
  std::vector<std::string> wake_log;
};

SharedEvent message(std::uint64_t id, std::string text, std::int64_t ts = event_time_now()) {
  return std::make_shared<const StoredEvent>(StoredEvent{id, ts, EventType::message, "old", std::move(text)});
}

}  // namespace

TEST_CASE("room: ids are consecutive across publishes and batches, after the loaded history") {
  RoomUnderTest test(41);
  auto alice = test.subscriber("alice");
  test.join(alice);  // her join is 42
  auto reply = std::make_shared<PublishReply>(test.context, 1);
  test.send(RoomUnderTest::publish("alice", {"a", "b"}, alice));
  test.send(RoomUnderTest::publish("bob", {"c", "d", "e"}, nullptr, reply));
  test.send(RoomUnderTest::publish("alice", {"f"}, alice));

  const auto seen = alice->drain();
  REQUIRE(seen.size() == 7);
  CHECK(field(seen[0], "type") == "join");
  for (std::size_t i = 0; i < seen.size(); ++i) CHECK(id_of(seen[i]) == 42 + i);
  CHECK(field(seen[3], "text") == "c");
  CHECK(field(seen[3], "name") == "bob");
  std::uint64_t first_id = 0;
  REQUIRE(reply->try_receive([&](asio::error_code ec, std::uint64_t id) {
    CHECK(!ec);
    first_id = id;
  }));
  CHECK(first_id == 45);  // the first of bob's batch
}

TEST_CASE("room: the author is served first, and each subscriber gets its own format") {
  RoomUnderTest test;
  auto json = test.subscriber("ann");
  auto text = test.subscriber("tom", 1000, EventFormat::text);
  auto author = test.subscriber("zed");
  test.join(json);
  test.join(text);
  test.join(author);
  json->drain();
  text->drain();
  author->drain();
  test.wake_log.clear();

  test.send(RoomUnderTest::publish("zed", {"hello", "again"}, author));
  REQUIRE(test.wake_log.size() == 3);
  CHECK(test.wake_log.front() == "zed");
  CHECK(text->drain() == std::vector<std::string>{"hello", "again"});
  const auto seen = json->drain();
  REQUIRE(seen.size() == 2);
  CHECK(field(seen[0], "text") == "hello");
  CHECK(field(seen[0], "room") == "lobby");
  CHECK(author->drain() == seen);
}

TEST_CASE("room: a join with since gets exactly the events after it, then live ones, while publishes queue") {
  RoomUnderTest test;
  auto watcher = test.subscriber("watcher", 100000);
  test.join(watcher);
  for (int i = 0; i < 10; ++i) test.send(RoomUnderTest::publish("pub", {"m" + std::to_string(i)}));
  // Ids so far: watcher's join 1, messages 2..11. The joiner last saw 5; publishes are waiting in the
  // inbox before and after its join.
  for (int i = 10; i < 20; ++i) test.queue(RoomUnderTest::publish("pub", {"m" + std::to_string(i)}));
  auto joiner = test.subscriber("joiner", 100000);
  test.queue(JoinRoom{joiner, 5, "epoch-1"});
  for (int i = 20; i < 30; ++i) test.queue(RoomUnderTest::publish("pub", {"m" + std::to_string(i), "x"}));
  test.run();

  const auto seen = joiner->drain();
  REQUIRE(!seen.empty());
  CHECK(field(seen[0], "type") == "recovered");
  CHECK(field(seen[0], "complete") == "true");
  CHECK(field(seen[0], "epoch") == "epoch-1");
  CHECK(field(seen[0], "max_message_size") == "65536");
  // Every id after 5 once, in order, up to the last one given: recovered, then live.
  const std::uint64_t last = id_of(watcher->drain().back());
  REQUIRE(seen.size() == 1 + (last - 5));
  for (std::size_t i = 1; i < seen.size(); ++i) CHECK(id_of(seen[i]) == 5 + i);
  // Its own join comes after what was published before it.
  CHECK(field(seen[1 + 21 - 5], "type") == "join");
  CHECK(field(seen[1 + 21 - 5], "name") == "joiner");
}

TEST_CASE("room: recovery while another thread publishes has no gap and no duplicate") {
  RoomUnderTest test;
  auto watcher = test.subscriber("watcher", 1000000, EventFormat::json, false);
  test.join(watcher);
  std::atomic<bool> done{false};
  std::thread publisher([&] {
    for (int i = 0; i < 2000; ++i) {
      RoomCommand command = RoomUnderTest::publish("pub", {"m" + std::to_string(i)});
      while (!test.room->try_send(command)) std::this_thread::yield();  // inbox full: let the room run
      if (i % 100 == 99) std::this_thread::sleep_for(std::chrono::milliseconds(1));  // let joins interleave
    }
    done = true;
  });
  std::vector<std::shared_ptr<FakeSubscriber>> joiners;
  std::vector<std::uint64_t> sinces;
  std::vector<std::uint64_t> message_ids;  // every message, as the watcher saw it
  int joined_while_publishing = 0;
  while (!done || joiners.size() < 5) {
    test.run();
    for (const auto& seen : watcher->drain()) message_ids.push_back(id_of(seen));
    if (joiners.size() < 5 && (message_ids.size() > 3 + 300 * joiners.size() || done)) {
      // It last saw a message a little before the newest: some of what it missed is queued behind it.
      sinces.push_back(message_ids[message_ids.size() - 3]);
      joiners.push_back(
          test.subscriber("joiner" + std::to_string(joiners.size()), 1000000, EventFormat::json, false));
      test.queue(JoinRoom{joiners.back(), sinces.back(), ""});
      if (!done) ++joined_while_publishing;
    }
  }
  publisher.join();
  // Timing decides it, so it is told, not asserted: on a loaded machine the publisher may finish first.
  WARN(joined_while_publishing > 0);
  test.run();
  for (const auto& seen : watcher->drain()) message_ids.push_back(id_of(seen));
  REQUIRE(message_ids.size() == 2000);

  for (std::size_t j = 0; j < joiners.size(); ++j) {
    CAPTURE(j);
    const auto seen = joiners[j]->drain();
    REQUIRE(seen.size() >= 2);
    CHECK(field(seen[0], "complete") == "true");
    // Messages only (no presence events for these): exactly the message ids after `since`, in order,
    // each once: what was replayed, then what came live.
    std::vector<std::uint64_t> expected;
    for (const auto id : message_ids) {
      if (id > sinces[j]) expected.push_back(id);
    }
    std::vector<std::uint64_t> ids;
    for (std::size_t i = 1; i < seen.size(); ++i) ids.push_back(id_of(seen[i]));
    CHECK(ids == expected);
  }
  CHECK(joiners.size() == 5);
}

TEST_CASE("room: recovery is incomplete for another epoch, trimmed events or an id never given") {
  // A room that retains 3 events, 8 to 10, the last id given; one subscriber joins it with `since`.
  const auto recover = [](std::uint64_t since, const std::string& epoch) {
    std::vector<SharedEvent> retained;
    for (std::uint64_t id = 8; id <= 10; ++id) retained.push_back(message(id, "t" + std::to_string(id)));
    RoomUnderTest test(10, retained, 3);
    auto joiner = test.subscriber("a");
    test.join(joiner, since, epoch);
    return joiner->drain();
  };

  auto seen = recover(8, "epoch-0");
  REQUIRE(seen.size() == 4);  // recovered, 9, 10, its own join
  CHECK(field(seen[0], "complete") == "false");
  CHECK(id_of(seen[1]) == 9);  // what is retained after `since` is still given
  CHECK(id_of(seen[2]) == 10);
  CHECK(field(recover(5, "epoch-1")[0], "complete") == "false");  // 6 and 7 were trimmed
  CHECK(field(recover(99, "")[0], "complete") == "false");        // never given
  seen = recover(7, "");  // 8 is the oldest retained: nothing is missing
  CHECK(field(seen[0], "complete") == "true");
  CHECK(id_of(seen[1]) == 8);
  seen = recover(10, "epoch-1");
  REQUIRE(seen.size() == 2);  // recovered, its own join
  CHECK(field(seen[0], "complete") == "true");
  CHECK(id_of(seen[1]) == 11);
}

TEST_CASE("room: a replay past half of queue_bytes sends the newest events that fit, incomplete") {
  // 20 retained events of 1000-byte texts (a JSON frame of about 1.1 KB each); queue_bytes 8 KiB: the
  // replay may take 4 KiB, so the newest 3 go, oldest of them first, and `complete` is false.
  std::vector<SharedEvent> retained;
  for (std::uint64_t id = 1; id <= 20; ++id)
    retained.push_back(message(id, std::string(1000, 'a' + id % 26)));
  RoomUnderTest test(20, retained);
  auto joiner = std::make_shared<FakeSubscriber>("a", nullptr, 1000, EventFormat::json, false, 8 * 1024);
  test.join(joiner, 0);
  CHECK(joiner->queue().held_bytes() <= 4 * 1024 + 200);  // the replay counts; plus the `recovered` frame
  const auto seen = joiner->drain();
  REQUIRE(seen.size() == 4);
  CHECK(field(seen[0], "complete") == "false");
  CHECK(id_of(seen[1]) == 18);
  CHECK(id_of(seen[2]) == 19);
  CHECK(id_of(seen[3]) == 20);
  // A replay that fits is complete.
  auto near = std::make_shared<FakeSubscriber>("b", nullptr, 1000, EventFormat::json, false, 8 * 1024);
  test.join(near, 18);
  const auto near_seen = near->drain();
  REQUIRE(near_seen.size() == 3);
  CHECK(field(near_seen[0], "complete") == "true");
}

TEST_CASE("room: replays share each event's frame instead of encoding it per subscriber") {
  std::vector<SharedEvent> retained;
  for (std::uint64_t id = 1; id <= 5; ++id) retained.push_back(message(id, "t" + std::to_string(id)));
  RoomUnderTest test(5, retained);
  auto first = test.subscriber("a", 1000, EventFormat::json, false);
  auto second = test.subscriber("b", 1000, EventFormat::json, false);
  test.join(first, 0);
  test.join(second, 0);
  std::vector<SharedFrame> one, two;
  bool ends_with_close = false;
  REQUIRE(first->queue().take(one, ends_with_close));
  REQUIRE(second->queue().take(two, ends_with_close));
  REQUIRE(one.size() == 6);  // recovered, 1 to 5
  REQUIRE(two.size() == 6);
  for (std::size_t i = 1; i < 6; ++i) CHECK(one[i].get() == two[i].get());  // the same bytes, built once
  // Live frames are kept too: a later replay gets the very frame the fan-out sent.
  test.send(RoomUnderTest::publish("c", {"live"}));
  std::vector<SharedFrame> live;
  REQUIRE(first->queue().take(live, ends_with_close));  // (the batch of the replay is now written)
  live.clear();
  REQUIRE(first->queue().take(live, ends_with_close) == false);
  auto third = test.subscriber("d", 1000, EventFormat::json, false);
  test.join(third, 5);
  std::vector<SharedFrame> replayed;
  REQUIRE(third->queue().take(replayed, ends_with_close));
  REQUIRE(replayed.size() == 2);  // recovered, "live"
  std::vector<SharedFrame> second_live;
  REQUIRE(second->queue().take(second_live, ends_with_close));
  REQUIRE(second_live.size() == 1);
  CHECK(second_live[0].get() == replayed[1].get());
}

TEST_CASE("room: event streams get SSE events numbered epoch:id, notices unnumbered, each built once") {
  std::vector<SharedEvent> retained;
  for (std::uint64_t id = 1; id <= 5; ++id) retained.push_back(message(id, "t" + std::to_string(id)));
  RoomUnderTest test(5, retained);
  auto json = test.subscriber("s", 1000, EventFormat::sse_json);
  auto other = test.subscriber("o", 1000, EventFormat::sse_json, false);
  auto text = test.subscriber("t", 1000, EventFormat::sse_text);
  auto websocket = test.subscriber("w", 1000, EventFormat::json, false);
  test.join(json, 3, "epoch-1");
  test.join(text, 3, "epoch-1");

  auto seen = json->drain_bytes();
  REQUIRE(seen.size() == 5);  // recovered, 4, 5, its own join (6), the text reader's (7)
  // A notice carries no id line: the reader's Last-Event-ID stays the last event it had.
  CHECK(seen[0].starts_with("event: recovered\ndata: {\"type\":\"recovered\""));
  CHECK(field(seen[0], "complete") == "true");
  CHECK(seen[0].ends_with("}\n\n"));
  CHECK(seen[1].starts_with("id: epoch-1:4\nevent: message\ndata: {"));
  CHECK(field(seen[1], "text") == "t4");
  CHECK(seen[2].starts_with("id: epoch-1:5\nevent: message\n"));
  CHECK(seen[3].starts_with("id: epoch-1:6\nevent: join\ndata: {"));
  CHECK(field(seen[3], "name") == "s");
  CHECK(seen[4].starts_with("id: epoch-1:7\nevent: join\n"));

  // The text stream gets the notice too (it is a named event, which onmessage never sees), the texts
  // alone as data, and no join.
  seen = text->drain_bytes();
  REQUIRE(seen.size() == 3);  // recovered, 4, 5; the joins (6, 7) left out
  CHECK(seen[0].starts_with("event: recovered\ndata: {"));
  CHECK(seen[1] == "id: epoch-1:4\nevent: message\ndata: t4\n\n");
  CHECK(seen[2] == "id: epoch-1:5\nevent: message\ndata: t5\n\n");

  test.join(other);
  test.join(websocket);
  json->drain_bytes();
  text->drain_bytes();
  test.send(RoomUnderTest::publish("p", {"line one\nline two"}));
  std::vector<SharedFrame> one, two;
  bool ends_with_close = false;
  REQUIRE(json->queue().take(one, ends_with_close));
  REQUIRE(other->queue().take(two, ends_with_close));
  REQUIRE(one.size() == 1);
  REQUIRE(two.size() == 1);
  const auto frames = websocket->drain();  // the WebSocket subscriber its own frame, unchanged
  REQUIRE(frames.size() == 1);
  CHECK(field(frames[0], "text") == "line one\\nline two");
  const std::string id_line = "id: epoch-1:" + std::to_string(id_of(frames[0])) + "\n";
  CHECK(one[0].get() == two[0].get());  // one encoding for every stream of that format
  CHECK(one[0]->starts_with(id_line + "event: message\ndata: {"));
  CHECK(one[0]->find("line one\\nline two") != std::string::npos);  // JSON keeps it on one data line
  CHECK(text->drain_bytes() ==
        std::vector<std::string>{id_line + "event: message\ndata: line one\ndata: line two\n\n"});
}

TEST_CASE("room: an event stream resuming in another epoch is told the recovery is incomplete") {
  std::vector<SharedEvent> retained;
  for (std::uint64_t id = 1; id <= 3; ++id) retained.push_back(message(id, "t" + std::to_string(id)));
  RoomUnderTest test(3, retained);
  auto reader = test.subscriber("r", 1000, EventFormat::sse_json, false);
  test.join(reader, 2, "epoch-0");
  const auto seen = reader->drain_bytes();
  REQUIRE(seen.size() == 2);  // recovered, then what the room has after 2
  CHECK(seen[0].starts_with("event: recovered\n"));
  CHECK(field(seen[0], "complete") == "false");
  CHECK(field(seen[0], "epoch") == "epoch-1");
  CHECK(seen[1].starts_with("id: epoch-1:3\n"));
}

TEST_CASE("room: presence transitions: first session joins, last session leaves") {
  RoomUnderTest test;
  auto observer = test.subscriber("observer");
  test.join(observer);
  observer->drain();

  auto first = test.subscriber("alice");
  auto second = test.subscriber("alice");
  test.join(first);
  auto seen = observer->drain();
  REQUIRE(seen.size() == 1);
  CHECK(field(seen[0], "type") == "join");
  CHECK(field(seen[0], "name") == "alice");

  test.join(second);
  CHECK(observer->drain().empty());  // a second session of the same name: no event
  CHECK(test.presence() ==
        "{\"room\":\"lobby\",\"users\":[{\"name\":\"alice\",\"sessions\":2},{\"name\":\"observer\","
        "\"sessions\":"
        "1}]}\n");

  test.send(LeaveRoom{first});
  CHECK(observer->drain().empty());
  test.send(LeaveRoom{first});  // already gone: nothing
  CHECK(observer->drain().empty());
  test.send(LeaveRoom{second});
  seen = observer->drain();
  REQUIRE(seen.size() == 1);
  CHECK(field(seen[0], "type") == "leave");
  CHECK(field(seen[0], "name") == "alice");
  CHECK(test.presence() == "{\"room\":\"lobby\",\"users\":[{\"name\":\"observer\",\"sessions\":1}]}\n");
}

TEST_CASE("room: a subscriber whose queue is full is closed as too slow, and the others see it leave") {
  RoomUnderTest test;
  auto fast = test.subscriber("fast");
  auto other = test.subscriber("other", 1000, EventFormat::text);
  auto slow = test.subscriber("slow", 2, EventFormat::json, false);
  test.join(fast);
  test.join(other);
  test.join(slow);
  fast->drain();

  test.send(RoomUnderTest::publish("pub", {"1"}));
  test.send(RoomUnderTest::publish("pub", {"2"}));
  CHECK(!slow->queue().closed());
  test.send(RoomUnderTest::publish("pub", {"3"}));  // the slow queue holds 2: the third does not fit
  CHECK(slow->queue().close_code() == disconnect::too_slow.code);
  CHECK(slow->queue().close_reason() == disconnect::too_slow.reason);

  test.send(RoomUnderTest::publish("pub", {"4"}));
  auto seen = fast->drain();
  REQUIRE(seen.size() == 5);
  CHECK(field(seen[2], "text") == "3");
  CHECK(field(seen[3], "type") == "leave");
  CHECK(field(seen[3], "name") == "slow");
  CHECK(field(seen[4], "text") == "4");
  CHECK(other->drain() == std::vector<std::string>{"1", "2", "3", "4"});
  // The close frame replaces what it had queued (no drain), and nothing more reaches it.
  CHECK(slow->drain().empty());
  REQUIRE(slow->closed_with.has_value());
  CHECK(slow->closed_with->substr(2) == disconnect::too_slow.reason);
  CHECK(static_cast<std::uint8_t>((*slow->closed_with)[0]) * 256 +
            static_cast<std::uint8_t>((*slow->closed_with)[1]) ==
        disconnect::too_slow.code);
  CHECK(test.presence() ==
        "{\"room\":\"lobby\",\"users\":[{\"name\":\"fast\",\"sessions\":1},{\"name\":\"other\",\"sessions\":"
        "1}]}\n");
}

TEST_CASE("room: with an engine that numbers elsewhere, only delivered events are fanned out") {
  DeferredEngine::Log log;
  RoomUnderTest test(std::make_unique<DeferredEngine>(log));
  auto ann = test.subscriber("ann");
  auto tom = test.subscriber("tom", 1000, EventFormat::text);
  test.join(ann);
  test.join(tom);
  auto reply = std::make_shared<PublishReply>(test.context, 1);
  test.send(RoomUnderTest::publish("ann", {"x", "y"}, ann, reply));
  CHECK(ann->drain().empty());  // nothing numbered yet
  REQUIRE(log.requests.size() == 3);
  CHECK(log.requests[0].type == EventType::join);
  CHECK(log.requests[0].name == "ann");
  CHECK(log.requests[2].type == EventType::message);
  CHECK(log.requests[2].texts == std::vector<std::string>{"x", "y"});
  REQUIRE(log.replies.size() == 1);  // the engine answers it, once it knows the id
  CHECK(log.replies[0] == reply);

  // What the engine delivers, numbered (here with a gap: ids may skip), mixing presence and messages.
  std::vector<SharedEvent> events = {
      std::make_shared<const StoredEvent>(StoredEvent{1, event_time_now(), EventType::join, "ann", ""}),
      std::make_shared<const StoredEvent>(StoredEvent{2, event_time_now(), EventType::join, "tom", ""}),
      message(4, "x"), message(5, "y")};
  test.send(DeliverSequenced{events, {}, false, 0});
  const auto seen = ann->drain();
  REQUIRE(seen.size() == 4);
  CHECK(field(seen[1], "name") == "tom");
  CHECK(id_of(seen[2]) == 4);
  CHECK(id_of(seen[3]) == 5);
  CHECK(tom->drain() == std::vector<std::string>{"x", "y"});

  auto late = test.subscriber("late");
  test.join(late, 2, "epoch-r");
  const auto replayed = late->drain();
  REQUIRE(replayed.size() == 3);  // recovered, 4, 5; its own join is the engine's to number
  CHECK(field(replayed[0], "complete") == "true");
  CHECK(id_of(replayed[2]) == 5);

  auto answer = std::make_shared<QueryReply>(test.context, 1);
  const std::string page = test.ask(HistoryQuery{0, 2, answer}, answer);
  CHECK(page.find("\"events\":[{\"id\":4,") != std::string::npos);
  CHECK(page.find("\"next_before\":4}") != std::string::npos);
  log.replies.clear();  // channels of test.context, which goes before `log`
}

TEST_CASE("room: a command that throws is refused: its reply is answered, what it did is committed") {
  DeferredEngine::Log log;
  RoomUnderTest test(std::make_unique<DeferredEngine>(log));
  auto reply = std::make_shared<PublishReply>(test.context, 1);
  log.fail_next = true;
  test.send(RoomUnderTest::publish("ann", {"x"}, nullptr, reply));
  asio::error_code refused;
  REQUIRE(reply->try_receive([&](asio::error_code ec, std::uint64_t) { refused = ec; }));
  CHECK(refused == asio::error::no_memory);
  CHECK(log.commits == 1);  // what it numbered before it threw is stored
  CHECK(log.replies.empty());

  test.send(RoomUnderTest::publish("ann", {"y"}));  // the room goes on
  REQUIRE(log.requests.size() == 1);
  CHECK(log.requests[0].texts == std::vector<std::string>{"y"});
  CHECK(log.commits == 2);
}
