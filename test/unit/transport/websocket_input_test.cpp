// WebSocketInput's two loops, the one that never waits and the one that does, fed the same frames: they
// must hand the room the same texts, in the same order, with the same control answers in the same places
// (pongs and the close echo keep their place after the texts read before them). No socket: the room is a
// fake Owner that records what it is sent, and the connection's queue is drained into the same record.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <exception>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>

#include "config/config.hpp"
#include "protocol/frame_builder.hpp"
#include "server/rooms/subscriber.hpp"
#include "server/transport/websocket_input.hpp"
#include "test/unit/limits/fake_clock.hpp"
#include "test/unit/protocol/frames.hpp"

using namespace chatd;

namespace {

using Clock = std::chrono::steady_clock;

// The tests' clock stands still: a token bucket that starts empty stays empty, so every text must wait.
Clock::time_point frozen_clock() {
  return test::t0;
}

// One client-to-server frame, masked as clients must (RFC 6455 5.3), as a string of bytes.
std::string client_frame(std::uint8_t opcode, const std::string& payload) {
  const test::Bytes bytes = test::build({opcode, payload});
  return std::string(bytes.begin(), bytes.end());
}
std::string text(const std::string& payload) {
  return client_frame(0x1, payload);
}
std::string ping(const std::string& payload) {
  return client_frame(0x9, payload);
}
std::string close(std::uint16_t code) {
  return client_frame(0x8, std::string{static_cast<char>(code >> 8), static_cast<char>(code & 0xff)});
}

// What the input did, in order: "publish a|b" for one PublishMessages batch, "frame <bytes>" for each
// frame it queued for the peer (pongs, the close echo).
using Record = std::vector<std::string>;

// The texts and frames of a record with the batches flattened: what the peer and the room see, whatever
// the batching.
Record flattened(const Record& record) {
  Record out;
  for (const auto& entry : record) {
    if (entry.rfind("publish ", 0) != 0) {
      out.push_back(entry);
      continue;
    }
    std::string texts = entry.substr(8);
    for (std::size_t bar; (bar = texts.find('|')) != std::string::npos; texts.erase(0, bar + 1)) {
      out.push_back("text " + texts.substr(0, bar));
    }
    out.push_back("text " + texts);
  }
  return out;
}

// A connection in a room that takes everything: the room's inbox refuses the first `full_inbox_tries`
// try_sends (it is full), and always takes an awaited send.
class FakeConnection : public Subscriber,
                       public WebSocketInput::Owner,
                       public std::enable_shared_from_this<FakeConnection> {
 public:
  explicit FakeConnection(int full_inbox_tries)
      : Subscriber(16, EventFormat::json, "alice", false), full_inbox_tries_(full_inbox_tries) {}

  bool try_send(RoomCommand& command) override {
    if (full_inbox_tries_ > 0) {
      --full_inbox_tries_;
      return false;
    }
    record_command(command);
    return true;
  }
  asio::awaitable<bool> send(RoomCommand command) override {
    ++awaited_sends;
    record_command(command);
    co_return true;
  }
  std::shared_ptr<Subscriber> author() override { return shared_from_this(); }

  // The writer: takes what was queued at once.
  void wake_writer() override {
    std::vector<SharedFrame> batch;
    bool ends_with_close = false;
    while (queue().take(batch, ends_with_close)) {
      for (const auto& frame : batch) record.push_back("frame " + *frame);
      batch.clear();
      // The queue ends with a close but leaves its bytes to the transport, as StreamWriter does.
      if (ends_with_close) {
        record.push_back("frame " + protocol::close_frame(queue().close_code(), queue().close_reason()));
        break;
      }
    }
  }

  Record record;
  int awaited_sends = 0;

 private:
  void record_command(const RoomCommand& command) {
    const auto* publish = std::get_if<PublishMessages>(&command);
    REQUIRE(publish != nullptr);
    CHECK(publish->author.get() == this);
    CHECK(publish->name == "alice");
    CHECK(publish->reply == nullptr);
    std::string entry = "publish ";
    for (std::size_t i = 0; i < publish->texts.size(); ++i) entry += (i ? "|" : "") + publish->texts[i];
    record.push_back(entry);
  }

  int full_inbox_tries_;
};

struct Run {
  Record record;
  WebSocketInput::Next now_result = WebSocketInput::Next::read_more;
  bool waited = false;     // handle_waiting() ran
  bool read_more = false;  // what it returned
  int awaited_sends = 0;
  std::optional<std::uint16_t> peer_close_code;
};

// Feeds `frames` (one read) to a fresh input, handles them without waiting, and, if that stops where it
// would wait, runs the waiting loop on an io_context until it is done.
Run run_input(const std::string& frames, double burst, int full_inbox_tries) {
  config::Config config;
  config.publish.rate = 1000;  // an empty bucket gives a token every millisecond: the test stays fast
  config.publish.burst = burst;
  auto connection = std::make_shared<FakeConnection>(full_inbox_tries);
  WebSocketInput input(*connection, *connection, config, frozen_clock());
  std::string bytes = frames;
  input.parse(reinterpret_cast<std::uint8_t*>(bytes.data()), bytes.size());

  Run run;
  run.now_result = input.handle_now(frozen_clock());
  if (run.now_result == WebSocketInput::Next::wait) {
    asio::io_context context;
    asio::co_spawn(context, input.handle_waiting(&frozen_clock), [&](std::exception_ptr error, bool more) {
      REQUIRE(!error);
      run.waited = true;
      run.read_more = more;
    });
    context.run();
    REQUIRE(run.waited);
  }
  run.record = connection->record;
  run.awaited_sends = connection->awaited_sends;
  run.peer_close_code = input.peer_close_code();
  return run;
}

std::string frames_of(std::initializer_list<std::string> frames) {
  std::string out;
  for (const auto& frame : frames) out += frame;
  return out;
}

// Several texts, an empty text, a ping between texts, a close, a text after the close.
std::string conversation() {
  return frames_of(
      {text("one"), text("two"), text(""), ping("p"), text("three"), close(4000), text("after")});
}

}  // namespace

TEST_CASE("websocket input, now: texts batched up to each control frame, pong and close echo in place") {
  const Run run = run_input(conversation(), 100, 0);
  CHECK(run.now_result == WebSocketInput::Next::stop);
  CHECK(!run.waited);
  // The empty text and the text after the close publish nothing; the close echoes the peer's code (RFC 6455
  // 5.5.1).
  CHECK(run.record == Record{"publish one|two", "frame " + protocol::pong_frame("p"), "publish three",
                             "frame " + protocol::close_frame(4000, "")});
  CHECK(run.peer_close_code == std::optional<std::uint16_t>(4000));
}

TEST_CASE("websocket input, waiting for inbox room: the same commands as without waiting") {
  const Run now = run_input(conversation(), 100, 0);
  const Run waiting = run_input(conversation(), 100, 1);  // the inbox is full when the ping's batch goes
  CHECK(waiting.now_result == WebSocketInput::Next::wait);
  CHECK(waiting.waited);
  CHECK(!waiting.read_more);  // the peer's close: read no more
  CHECK(waiting.awaited_sends == 2);
  CHECK(waiting.record == now.record);
  CHECK(waiting.peer_close_code == now.peer_close_code);
}

TEST_CASE("websocket input, waiting for tokens: the same texts and control answers, in the same places") {
  const Run now = run_input(conversation(), 100, 0);
  const Run waiting = run_input(conversation(), 0, 0);  // the bucket is empty: every text waits for a token
  CHECK(waiting.now_result == WebSocketInput::Next::wait);
  CHECK(waiting.waited);
  CHECK(!waiting.read_more);
  // Waiting for a token sends what already has one first, so the batches are smaller; nothing else differs.
  CHECK(waiting.record == Record{"publish one", "publish two", "frame " + protocol::pong_frame("p"),
                                 "publish three", "frame " + protocol::close_frame(4000, "")});
  CHECK(flattened(waiting.record) == flattened(now.record));
  CHECK(waiting.peer_close_code == now.peer_close_code);
}

TEST_CASE("websocket input: a read without a close publishes its batch at the end, now or after waiting") {
  const std::string frames = frames_of({text("one"), text("two")});
  const Run now = run_input(frames, 100, 0);
  CHECK(now.now_result == WebSocketInput::Next::read_more);
  CHECK(now.record == Record{"publish one|two"});
  const Run waiting = run_input(frames, 100, 1);  // the inbox is full when the read's batch goes
  CHECK(waiting.now_result == WebSocketInput::Next::wait);
  CHECK(waiting.read_more);
  CHECK(waiting.record == now.record);
}

TEST_CASE("websocket input: binary is refused with 1003 and the peer's later bytes are discarded") {
  std::string first = frames_of({text("one"), client_frame(0x2, "bin"), text("two")});
  config::Config config;
  auto connection = std::make_shared<FakeConnection>(0);
  WebSocketInput input(*connection, *connection, config, frozen_clock());
  input.parse(reinterpret_cast<std::uint8_t*>(first.data()), first.size());
  CHECK(input.handle_now(frozen_clock()) == WebSocketInput::Next::read_more);
  std::string later = text("later");
  input.parse(reinterpret_cast<std::uint8_t*>(later.data()), later.size());
  CHECK(input.handle_now(frozen_clock()) == WebSocketInput::Next::read_more);
  // Nothing is published once closing: "two" came after the binary message, "later" after the refusal.
  CHECK(connection->record ==
        Record{"publish one", "frame " + protocol::close_frame(1003, "binary messages are not supported")});
  CHECK(!input.peer_close_code());
}

TEST_CASE("websocket input: an invalid close payload is answered with 1002") {
  std::string frames =
      client_frame(0x8, std::string(1, '\x03'));  // a one-byte close payload (RFC 6455 5.5.1)
  config::Config config;
  auto connection = std::make_shared<FakeConnection>(0);
  WebSocketInput input(*connection, *connection, config, frozen_clock());
  input.parse(reinterpret_cast<std::uint8_t*>(frames.data()), frames.size());
  CHECK(input.handle_now(frozen_clock()) == WebSocketInput::Next::stop);
  CHECK(connection->record == Record{"frame " + protocol::close_frame(1002, "invalid close frame")});
  CHECK(input.peer_close_code().has_value());
}
