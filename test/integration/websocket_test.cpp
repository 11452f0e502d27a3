// The WebSocket side: handshake refusals, close codes for broken input, ping/pong, close handshake,
// keepalive.
#include <doctest/doctest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "test/support/chatd_process.hpp"
#include "test/support/clients.hpp"

using namespace chatd::test;

namespace {

// A subscriber of room "calm" still gets what is published there.
void check_still_served(std::uint16_t port, WsClient& bystander) {
  REQUIRE(http_post(port, "/publish?room=calm", "still here").status == 202);
  auto frame = bystander.next();
  REQUIRE(frame);
  CHECK(json_string(frame->payload, "text") == "still here");
}

}  // namespace

TEST_CASE("handshake refusals: 426, 400, 403, 404, 503") {
  ChatdProcess server(
      "rooms: { dynamic: false, names: [general] }\n"
      "subscriber: { allowed_origins: ['https://chat.example'] }\n"
      "log: { level: warn }\n");
  const auto port = server.port();
  CHECK(http_get(port, "/subscribe").status == 426);
  WsClient version;
  CHECK(version.open(port, "/subscribe", {"Sec-WebSocket-Version: 8"}) == 426);  // a second version header
  auto bad_key =
      http_exchange(port,
                    "GET /subscribe HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n");
  CHECK(bad_key.status == 400);
  WsClient origin;
  CHECK(origin.open(port, "/subscribe", {"Origin: https://evil.example"}) == 403);
  WsClient allowed;
  CHECK(allowed.open(port, "/subscribe", {"Origin: https://chat.example"}) == 101);
  WsClient unknown;
  CHECK(unknown.open(port, "/subscribe?room=elsewhere") == 404);
  WsClient bad_room;
  CHECK(bad_room.open(port, "/subscribe?room=no%2Fslash") == 400);
  WsClient bad_format;
  CHECK(bad_format.open(port, "/subscribe?format=xml") == 400);

  ChatdProcess small("rooms: { max: 2, names: [general] }\nlog: { level: warn }\n");
  WsClient second, third;
  CHECK(second.open(small.port(), "/subscribe?room=two") == 101);
  CHECK(third.open(small.port(), "/subscribe?room=three") == 503);
}

TEST_CASE("frames sent together with the handshake are not lost") {
  ChatdProcess server("log: { level: warn }\n");
  WsClient reader;
  REQUIRE(reader.open(server.port(), "/subscribe?room=eager") == 101);
  // Handshake and first frame in one packet, as eager clients send them.
  const int fd = connect_loopback(server.port());
  const std::string packet =
      "GET /subscribe?room=eager&name=eve HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: "
      "Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n" +
      client_frame(1, "same packet");
  REQUIRE(::send(fd, packet.data(), packet.size(), 0) == static_cast<ssize_t>(packet.size()));
  auto frame = reader.next();
  REQUIRE(frame);
  CHECK(json_string(frame->payload, "text") == "same packet");
  CHECK(json_string(frame->payload, "name") == "eve");
  ::close(fd);
}

TEST_CASE("broken input closes with the right code: 1009, 1007, 1002, 1003") {
  ChatdProcess server("limits: { max_message_size: 1KiB }\nlog: { level: info }\n");
  const auto port = server.port();
  WsClient bystander;
  REQUIRE(bystander.open(port, "/subscribe?room=calm") == 101);

  WsClient too_big;
  REQUIRE(too_big.open(port, "/subscribe?room=calm") == 101);
  too_big.send_text(std::string(2000, 'x'));
  CHECK(too_big.wait_close() == 1009);
  CHECK(too_big.wait_eof());

  WsClient bad_utf8;
  REQUIRE(bad_utf8.open(port, "/subscribe?room=calm") == 101);
  bad_utf8.send_text("bad \xc3\x28 utf-8");
  CHECK(bad_utf8.wait_close() == 1007);

  WsClient unmasked;
  REQUIRE(unmasked.open(port, "/subscribe?room=calm") == 101);
  unmasked.send_raw(client_frame(1, "no mask", true, false));
  CHECK(unmasked.wait_close() == 1002);

  WsClient reserved;
  REQUIRE(reserved.open(port, "/subscribe?room=calm") == 101);
  reserved.send_raw(client_frame(1, "rsv", true, true, 0x4));
  CHECK(reserved.wait_close() == 1002);

  WsClient binary;
  REQUIRE(binary.open(port, "/subscribe?room=calm") == 101);
  binary.send_raw(client_frame(2, "\x01\x02"));
  CHECK(binary.wait_close() == 1003);

  // None of that reached the room, and the bystander still works.
  check_still_served(port, bystander);
  // The room's history holds that one message and nothing the broken clients sent.
  const auto history = http_get(port, "/history?room=calm");
  REQUIRE(history.status == 200);
  std::size_t messages = 0;
  for (auto at = history.body.find("\"type\":\"message\""); at != std::string::npos;
       at = history.body.find("\"type\":\"message\"", at + 1))
    ++messages;
  CHECK(messages == 1);
}

// A masked continuation header declaring `length` bytes in the 64-bit form; no payload.
std::string continuation_declaring(std::uint64_t length) {
  std::string header = {'\x80', '\xff'};
  for (int shift = 56; shift >= 0; shift -= 8) header.push_back(static_cast<char>(length >> shift));
  return header + "\x01\x02\x03\x04";
}

TEST_CASE("declared lengths past the limit close the connection before anything is buffered") {
  ChatdProcess server("limits: { max_message_size: 1KiB }\nlog: { level: warn }\n");
  const auto port = server.port();
  WsClient bystander;
  REQUIRE(bystander.open(port, "/subscribe?room=calm") == 101);
  const std::string filler(64 * 1024, 'z');

  // websocketpp alone would wrap 1 + (2^64 - 1) to 0 and buffer everything sent after it.
  WsClient high_bit;
  REQUIRE(high_bit.open(port, "/subscribe?room=calm") == 101);
  high_bit.send_raw(client_frame(1, "x", false) + continuation_declaring(~std::uint64_t{0}) + filler);
  CHECK(high_bit.wait_close() == 1002);

  WsClient huge;
  REQUIRE(huge.open(port, "/subscribe?room=calm") == 101);
  huge.send_raw(client_frame(1, "x", false) + continuation_declaring((std::uint64_t{1} << 63) - 1) + filler);
  CHECK(huge.wait_close() == 1009);

  WsClient adding_up;
  REQUIRE(adding_up.open(port, "/subscribe?room=calm") == 101);
  adding_up.send_raw(client_frame(1, std::string(600, 'a'), false));
  adding_up.send_raw(client_frame(0, std::string(600, 'b'), false));
  CHECK(adding_up.wait_close() == 1009);
  check_still_served(port, bystander);
}

TEST_CASE("recovered tells the client limits.max_message_size") {
  ChatdProcess server("limits: { max_message_size: 1KiB }\nlog: { level: warn }\n");
  WsClient client;
  REQUIRE(client.open(server.port(), "/subscribe?room=fresh&since=0") == 101);
  auto recovered = client.next();
  REQUIRE(recovered);
  CHECK(json_string(recovered->payload, "type") == "recovered");
  CHECK(json_number(recovered->payload, "max_message_size") == 1024);
}

TEST_CASE("ping is answered with pong; the close handshake is echoed and TCP closed") {
  ChatdProcess server("log: { level: warn }\n");
  WsClient client;
  REQUIRE(client.open(server.port(), "/subscribe") == 101);
  client.send_raw(client_frame(9, "are you there"));
  auto pong = client.next();
  REQUIRE(pong);
  CHECK(pong->opcode == 10);
  CHECK(pong->payload == "are you there");

  client.send_close(4000, "bye");
  auto echo = client.next();
  REQUIRE(echo);
  CHECK(echo->opcode == 8);
  CHECK(echo->close_code() == 4000);
  CHECK(client.wait_eof(2s));
}

TEST_CASE("a fragmented message is published whole") {
  ChatdProcess server("log: { level: warn }\n");
  WsClient client;
  REQUIRE(client.open(server.port(), "/subscribe?room=frag") == 101);
  // Pauses, so the server reads each frame separately: it must keep the unfinished message across reads.
  client.send_raw(client_frame(1, "hel", false));
  std::this_thread::sleep_for(50ms);
  client.send_raw(client_frame(9, "mid"));  // a control frame may come between fragments
  std::this_thread::sleep_for(50ms);
  client.send_raw(client_frame(0, "lo", true));
  auto pong = client.next();
  REQUIRE(pong);
  CHECK(pong->opcode == 10);
  auto event = client.next();
  REQUIRE(event);
  CHECK(json_string(event->payload, "text") == "hello");
}

TEST_CASE("keepalive: the server pings a silent peer, and drops one silent for two intervals") {
  ChatdProcess server("subscriber: { ping_interval: 200ms }\nlog: { level: info }\n");
  WsClient silent;
  REQUIRE(silent.open(server.port(), "/subscribe?name=sleepy") == 101);
  auto ping = silent.next(2s);
  REQUIRE(ping);
  CHECK(ping->opcode == 9);
  // Never answer: the server gives up after two intervals of silence.
  CHECK(silent.wait_eof(3s));
  CHECK(server.wait_for_log("name=sleepy ended=\"ping timeout\""));

  WsClient lively;
  REQUIRE(lively.open(server.port(), "/subscribe?name=lively") == 101);
  const auto until = std::chrono::steady_clock::now() + 1s;
  int pings = 0;
  while (std::chrono::steady_clock::now() < until) {
    auto frame = lively.next(100ms);
    if (frame && frame->opcode == 9) {
      ++pings;
      lively.send_raw(client_frame(10, frame->payload));
    }
  }
  CHECK(pings >= 2);
  CHECK(!lively.closed());
}
