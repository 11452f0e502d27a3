// Delivery: every subscriber that keeps up gets every event of its room exactly once, in id order;
// one that stops reading is closed with 1008 and disturbs no one else.
#include <doctest/doctest.h>

#include <algorithm>
#include <set>
#include <thread>

#include "test/support/chatd_process.hpp"
#include "test/support/clients.hpp"

using namespace chatd::test;

namespace {

std::vector<WsClient> open_clients(std::uint16_t port, std::size_t count, const std::string& target_prefix) {
  std::vector<WsClient> clients(count);
  for (std::size_t i = 0; i < count; ++i) {
    const int status = clients[i].open(port, target_prefix + "&name=user" + std::to_string(i));
    REQUIRE(status == 101);
  }
  return clients;
}

}  // namespace

TEST_CASE("1000 subscribers each publish one message at once: each receives all 1000 once, in id order") {
  constexpr std::size_t count = 1000;
  // The limiter is per connection (each publishes once). The queue holds the whole burst: this test is about
  // exactly-once, in-order delivery with 1000 concurrent publishers on every thread, not about the
  // slow-client policy (tested below). With the default of 16, a saturated machine can leave subscribers on
  // another worker unflushed for 16 events of a burst, and they are then closed as slow.
  // Nor about keepalive: these clients send nothing after their message, so a run longer than two ping
  // intervals (AddressSanitizer on a busy machine) would see them pinged, then dropped as silent.
  ChatdProcess server("subscriber: { queue: 1024, ping_interval: 10m }\nlog: { level: warn }\n");
  auto clients = open_clients(server.port(), count, "/subscribe?room=crowd");

  for (std::size_t i = 0; i < count; ++i) clients[i].send_text("hello from " + std::to_string(i));

  std::vector<std::vector<std::int64_t>> ids(count);
  std::vector<std::set<std::string>> texts(count);
  std::size_t received = 0, closes = 0;
  const bool done = pump(
      clients, 60s * sanitizer_slowdown,
      [&](std::size_t index, Frame& frame) {
        if (frame.opcode == 8) {
          ++closes;
          return;
        }
        if (frame.opcode != 1) return;  // a ping: not an event
        ids[index].push_back(json_number(frame.payload, "id"));
        texts[index].insert(json_string(frame.payload, "text"));
        ++received;
      },
      [&] {
        return received == count * count || closes > 0 ||
               std::any_of(clients.begin(), clients.end(), [](const WsClient& c) { return c.closed(); });
      });
  REQUIRE_MESSAGE(done, received, " of ", count * count, " frames received");
  CHECK(closes == 0);
  CHECK(std::none_of(clients.begin(), clients.end(), [](const WsClient& c) { return c.closed(); }));
  for (std::size_t i = 0; i < count; ++i) {
    REQUIRE(ids[i].size() == count);
    CHECK(texts[i].size() == count);  // each message once: no duplicate, none missing
    // The same consecutive ids for everyone (the joins before the burst took the first ones).
    REQUIRE(ids[i][0] == ids[0][0]);
    for (std::size_t k = 0; k < count; ++k) REQUIRE(ids[i][k] == ids[0][0] + static_cast<std::int64_t>(k));
  }
  CHECK(texts[0].count("hello from 0") == 1);
  CHECK(texts[count - 1].count("hello from 999") == 1);
  CHECK(server.stop() == 0);
}

TEST_CASE("a subscriber that stops reading is closed with 1008 while the others receive everything") {
  ChatdProcess server(
      "subscriber: { queue: 16, write_timeout: 30s }\n"
      "publish: { rate: 100000, burst: 100000 }\n"
      "log: { level: info }\n");
  // A tiny receive buffer makes the stalled client's socket fill up quickly.
  WsClient slow;
  REQUIRE(slow.open(server.port(), "/subscribe?room=r&name=slow", {}, 4096) == 101);
  auto readers = open_clients(server.port(), 3, "/subscribe?room=r");

  constexpr int messages = 2000;
  const std::string filler(2000, 'x');
  std::vector<int> counts(readers.size());
  std::thread sender([&] {
    for (int i = 0; i < messages; ++i) {
      const auto result = http_post(server.port(), "/publish?room=r", std::to_string(i) + ":" + filler);
      if (result.status != 202) break;
    }
  });
  std::size_t total = 0;
  pump(
      readers, 60s * sanitizer_slowdown,
      [&](std::size_t index, Frame& frame) {
        if (frame.opcode == 1) ++counts[index], ++total;
      },
      [&] { return total == readers.size() * messages; });
  sender.join();
  for (int count : counts) CHECK(count == messages);

  // The stalled client now reads: what was already on the wire, then the close frame.
  CHECK(slow.wait_close(10s) == 1008);
  CHECK(server.wait_for_log("name=slow code=1008 reason=\"too slow\""));
  CHECK(server.stop() == 0);
}

TEST_CASE("rooms are isolated") {
  ChatdProcess server("log: { level: warn }\n");
  WsClient a, b;
  REQUIRE(a.open(server.port(), "/subscribe?room=a") == 101);
  REQUIRE(b.open(server.port(), "/subscribe?room=b") == 101);
  REQUIRE(http_post(server.port(), "/publish?room=b", "for b").status == 202);
  REQUIRE(http_post(server.port(), "/publish?room=a", "for a").status == 202);
  auto first_a = a.next();
  REQUIRE(first_a);
  CHECK(json_string(first_a->payload, "text") == "for a");
  CHECK(json_number(first_a->payload, "id") == 2);  // each room counts on its own: its join was 1
  auto first_b = b.next();
  REQUIRE(first_b);
  CHECK(json_string(first_b->payload, "text") == "for b");
  CHECK(json_number(first_b->payload, "id") == 2);
  CHECK(!a.next(300ms));
}

TEST_CASE("format=text delivers the raw text; json carries every field, escaped") {
  ChatdProcess server("log: { level: warn }\n");
  WsClient text, json;
  REQUIRE(text.open(server.port(), "/subscribe?room=ops&format=text&name=t") == 101);
  REQUIRE(json.open(server.port(), "/subscribe?room=ops&format=json&name=j") == 101);
  const std::string message = "quote \" backslash \\ newline \n tab \t bell \x07 ünïcødé";
  const auto before = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  REQUIRE(http_post(server.port(), "/publish?room=ops&name=alice", message).status == 202);
  auto raw = text.next();
  REQUIRE(raw);
  CHECK(raw->opcode == 1);
  CHECK(raw->payload == message);
  auto event = json.next();
  REQUIRE(event);
  const std::string expected_prefix =
      "{\"id\":3,\"room\":\"ops\",\"type\":\"message\",\"name\":\"alice\","
      "\"text\":\"quote \\\" backslash \\\\ newline \\n tab \\t bell \\u0007 ünïcødé\",\"ts\":";
  CHECK(event->payload.substr(0, expected_prefix.size()) == expected_prefix);
  const auto ts = json_number(event->payload, "ts");
  CHECK(ts >= before);
  CHECK(ts <= before + 5000);
  CHECK(event->payload.back() == '}');
}

TEST_CASE("a WebSocket publisher is held back by its token bucket, and loses nothing") {
  ChatdProcess server("publish: { rate: 20, burst: 5 }\nlog: { level: warn }\n");
  WsClient client;
  REQUIRE(client.open(server.port(), "/subscribe?room=limited&name=fast") == 101);
  constexpr int messages = 25;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < messages; ++i) client.send_text("m" + std::to_string(i));
  for (int i = 0; i < messages; ++i) {
    auto frame = client.next(5s);
    REQUIRE(frame);
    CHECK(json_string(frame->payload, "text") == "m" + std::to_string(i));
    CHECK(json_number(frame->payload, "id") == i + 2);  // after its own join
  }
  // 5 at once, then 20 more at 20/s: at least one second.
  const auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(elapsed >= 950ms);
}
