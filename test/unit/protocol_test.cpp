// Unit tests of the protocol layer (protocol/): WebSocket frames both ways, the HTTP request reader and
// response writer, the opening handshake, JSON output, request targets, UTF-8 and the publish body.
// No sockets: every byte is built by hand here.
#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocol/frame_builder.hpp"
#include "protocol/frame_reader.hpp"
#include "protocol/http_request.hpp"
#include "protocol/http_response.hpp"
#include "protocol/json.hpp"
#include "protocol/publish_body.hpp"
#include "protocol/uri.hpp"
#include "protocol/utf8.hpp"
#include "protocol/websocket_handshake.hpp"

using namespace chatd::protocol;
using namespace std::string_literals;
using namespace std::string_view_literals;

namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes bytes_of(std::string_view text) {
  return Bytes(text.begin(), text.end());
}

// The first `n` bytes of a frame built by frame_builder, as unsigned values.
Bytes head_of(const std::string& frame, std::size_t n) {
  REQUIRE(frame.size() >= n);
  return Bytes(frame.begin(), frame.begin() + static_cast<std::ptrdiff_t>(n));
}

// One client-to-server frame, masked with a fixed key unless `masked` is false.
struct ClientFrame {
  std::uint8_t opcode = 0x1;
  std::string payload;
  bool fin = true;
  std::uint8_t rsv = 0;  // the three RSV bits, as 0..7 (4 = RSV1)
  bool masked = true;
};

Bytes build(const ClientFrame& frame) {
  static constexpr std::uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
  Bytes out;
  out.push_back(static_cast<std::uint8_t>((frame.fin ? 0x80 : 0x00) | (frame.rsv << 4) | frame.opcode));
  const std::uint8_t mask_bit = frame.masked ? 0x80 : 0x00;
  const std::uint64_t size = frame.payload.size();
  if (size < 126) {
    out.push_back(static_cast<std::uint8_t>(mask_bit | size));
  } else if (size <= 0xffff) {
    out.push_back(mask_bit | 126);
    out.push_back(static_cast<std::uint8_t>(size >> 8));
    out.push_back(static_cast<std::uint8_t>(size & 0xff));
  } else {
    out.push_back(mask_bit | 127);
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(size >> shift));
  }
  if (frame.masked) out.insert(out.end(), key, key + 4);
  for (std::size_t i = 0; i < frame.payload.size(); ++i) {
    const auto byte = static_cast<std::uint8_t>(frame.payload[i]);
    out.push_back(frame.masked ? static_cast<std::uint8_t>(byte ^ key[i % 4]) : byte);
  }
  return out;
}

Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& part : parts) out.insert(out.end(), part.begin(), part.end());
  return out;
}

struct FeedResult {
  FrameReader::Status status;
  std::size_t used;
};

// feed() unmasks in place, so it gets a copy.
FeedResult feed(FrameReader& reader, Bytes bytes, std::size_t offset = 0) {
  std::size_t used = 12345;
  const auto status = reader.feed(bytes.data() + offset, bytes.size() - offset, used);
  return {status, used};
}

// Feeds a whole buffer and expects exactly one message that uses every byte.
IncomingMessage single_message(const Bytes& bytes, std::size_t max_message_size = 1024) {
  FrameReader reader(max_message_size);
  const auto result = feed(reader, bytes);
  REQUIRE(result.status == FrameReader::Status::message);
  CHECK(result.used == bytes.size());
  return reader.take_message();
}

// Feeds a whole buffer and returns the close code of the error it must cause.
std::uint16_t error_of(const Bytes& bytes, std::size_t max_message_size = 1024) {
  FrameReader reader(max_message_size);
  const auto result = feed(reader, bytes);
  REQUIRE(result.status == FrameReader::Status::error);
  CHECK_FALSE(reader.error_reason().empty());
  return reader.error_code();
}

// A reader fed `request` in one go.
struct Parsed {
  explicit Parsed(std::string_view request, std::size_t max_header = 8192, std::size_t max_body = 1024)
      : reader(max_header, max_body) {
    used = reader.feed(request);
  }
  HttpRequestReader reader;
  std::size_t used = 0;
};

std::string header_value(const HttpResponse& response, std::string_view name) {
  for (const auto& [key, value] : response.headers) {
    if (key == name) return value;
  }
  return "<absent>";
}

constexpr std::string_view rfc_key = "dGhlIHNhbXBsZSBub25jZQ==";

std::string upgrade_request(std::string_view method = "GET", std::string_view version = "HTTP/1.1",
                            std::string_view key = rfc_key, std::string_view ws_version = "13",
                            bool with_upgrade = true) {
  std::string request = std::string(method) + " /subscribe?room=ops " + std::string(version) +
                        "\r\nHost: server.example.com\r\n";
  if (with_upgrade) request += "Upgrade: websocket\r\nConnection: Upgrade\r\n";
  request += "Sec-WebSocket-Key: " + std::string(key) + "\r\n";
  request += "Sec-WebSocket-Version: " + std::string(ws_version) + "\r\n\r\n";
  return request;
}

std::string repeat(std::string_view unit, std::size_t times) {
  std::string out;
  for (std::size_t i = 0; i < times; ++i) out += unit;
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// frame_builder

TEST_CASE("text_frame: header bytes for each payload length encoding") {
  SUBCASE("empty payload") {
    const auto frame = text_frame("");
    CHECK(bytes_of(frame) == Bytes{0x81, 0x00});
  }
  SUBCASE("125 bytes: the largest 7-bit length") {
    const std::string payload(125, 'a');
    const auto frame = text_frame(payload);
    REQUIRE(frame.size() == 2 + 125);
    CHECK(head_of(frame, 2) == Bytes{0x81, 0x7d});
    CHECK(frame.substr(2) == payload);
  }
  SUBCASE("126 bytes: the smallest 16-bit length") {
    const std::string payload(126, 'b');
    const auto frame = text_frame(payload);
    REQUIRE(frame.size() == 4 + 126);
    CHECK(head_of(frame, 4) == Bytes{0x81, 0x7e, 0x00, 0x7e});
    CHECK(frame.substr(4) == payload);
  }
  SUBCASE("65535 bytes: the largest 16-bit length") {
    const std::string payload(65535, 'c');
    const auto frame = text_frame(payload);
    REQUIRE(frame.size() == 4 + 65535);
    CHECK(head_of(frame, 4) == Bytes{0x81, 0x7e, 0xff, 0xff});
    CHECK(frame.substr(4) == payload);
  }
  SUBCASE("65536 bytes: the smallest 64-bit length") {
    const std::string payload(65536, 'd');
    const auto frame = text_frame(payload);
    REQUIRE(frame.size() == 10 + 65536);
    CHECK(head_of(frame, 10) == Bytes{0x81, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00});
    CHECK(frame.substr(10) == payload);
  }
}

TEST_CASE("append_frame_header appends an unmasked FIN header after existing bytes") {
  std::string out = "xy";
  append_frame_header(out, 0x2, 300);
  CHECK(bytes_of(out) == Bytes{'x', 'y', 0x82, 0x7e, 0x01, 0x2c});
  out.clear();
  append_frame_header(out, 0x1, 5);
  CHECK(bytes_of(out) == Bytes{0x81, 0x05});
  CHECK(max_frame_header_size == 10);
}

TEST_CASE("ping_frame and pong_frame") {
  CHECK(bytes_of(ping_frame()) == Bytes{0x89, 0x00});
  CHECK(bytes_of(ping_frame("abc")) == Bytes{0x89, 0x03, 'a', 'b', 'c'});
  CHECK(bytes_of(pong_frame("xyz")) == Bytes{0x8a, 0x03, 'x', 'y', 'z'});
  CHECK(bytes_of(pong_frame("")) == Bytes{0x8a, 0x00});
  // A control payload is at most 125 bytes: a longer one is cut.
  const auto long_ping = ping_frame(std::string(200, 'p'));
  REQUIRE(long_ping.size() == 2 + 125);
  CHECK(head_of(long_ping, 2) == Bytes{0x89, 0x7d});
  CHECK(long_ping.substr(2) == std::string(125, 'p'));
  const auto long_pong = pong_frame(std::string(126, 'q'));
  CHECK(long_pong.size() == 2 + 125);
}

TEST_CASE("close_frame: code then reason") {
  CHECK(bytes_of(close_frame(close_code::normal, "bye")) == Bytes{0x88, 0x05, 0x03, 0xe8, 'b', 'y', 'e'});
  CHECK(bytes_of(close_frame(close_code::message_too_big, "")) == Bytes{0x88, 0x02, 0x03, 0xf1});
  CHECK(bytes_of(close_frame(4000, "")) == Bytes{0x88, 0x02, 0x0f, 0xa0});

  SUBCASE("a reason of exactly 123 bytes is kept whole") {
    const std::string reason = "a" + repeat("\xc3\xa9", 61);  // 1 + 122 bytes
    REQUIRE(reason.size() == 123);
    const auto frame = close_frame(close_code::normal, reason);
    REQUIRE(frame.size() == 2 + 125);
    CHECK(head_of(frame, 4) == Bytes{0x88, 0x7d, 0x03, 0xe8});
    CHECK(frame.substr(4) == reason);
  }
  SUBCASE("a long reason is cut at 123 bytes without splitting a character") {
    const std::string reason = repeat("\xc3\xa9", 100);  // 200 bytes; byte 123 is inside the 62nd 'é'
    const auto frame = close_frame(close_code::going_away, reason);
    REQUIRE(frame.size() == 2 + 2 + 122);
    CHECK(head_of(frame, 4) == Bytes{0x88, 0x7c, 0x03, 0xe9});
    CHECK(frame.substr(4) == repeat("\xc3\xa9", 61));
    CHECK(is_valid_utf8(frame.substr(4)));
    // What the peer reads back is a valid close payload.
    const auto parsed = parse_close_payload(std::string_view(frame).substr(2));
    CHECK(parsed.valid);
    CHECK(parsed.code == close_code::going_away);
    CHECK(parsed.reason == repeat("\xc3\xa9", 61));
  }
  SUBCASE("three-byte characters") {
    const std::string reason = "ab" + repeat("\xe2\x82\xac", 50);  // 2 + 150 bytes; 123 ends inside a '€'
    const auto frame = close_frame(close_code::normal, reason);
    CHECK(frame.substr(4) == "ab" + repeat("\xe2\x82\xac", 40));  // 122 bytes
    CHECK(frame.size() == 4 + 122);
  }
}

TEST_CASE("share wraps a frame in an immutable shared buffer") {
  const SharedFrame shared = share(text_frame("hi"));
  REQUIRE(shared);
  CHECK(*shared == "\x81\x02hi"s);
}

// ---------------------------------------------------------------------------------------------------
// frame_reader

TEST_CASE("FrameReader: a masked text message") {
  const auto message = single_message(build({.opcode = 0x1, .payload = "Hello, chat"}));
  CHECK(message.kind == IncomingMessage::Kind::text);
  CHECK(message.payload == "Hello, chat");
}

TEST_CASE("FrameReader: 16-bit and 64-bit payload lengths") {
  const std::string medium(300, 'm');
  const auto message = single_message(build({.opcode = 0x1, .payload = medium}));
  CHECK(message.payload == medium);
  const std::string large(70000, 'L');
  const auto big = single_message(build({.opcode = 0x1, .payload = large}), 100000);
  CHECK(big.payload == large);
}

TEST_CASE("FrameReader: an empty text message") {
  const auto message = single_message(build({.opcode = 0x1, .payload = ""}));
  CHECK(message.kind == IncomingMessage::Kind::text);
  CHECK(message.payload.empty());
}

TEST_CASE("FrameReader: a fragmented text message fed one byte at a time") {
  Bytes bytes = concat({build({.opcode = 0x1, .payload = "Hel", .fin = false}),
                        build({.opcode = 0x0, .payload = "lo w\xc3", .fin = false}),
                        build({.opcode = 0x0, .payload = "\xa9rld", .fin = true})});
  FrameReader reader(1024);
  for (std::size_t i = 0; i + 1 < bytes.size(); ++i) {
    std::size_t used = 99;
    const auto status = reader.feed(&bytes[i], 1, used);
    REQUIRE_MESSAGE(status == FrameReader::Status::need_more, "byte " << i);
    REQUIRE_MESSAGE(used == 1, "byte " << i);
  }
  std::size_t used = 99;
  REQUIRE(reader.feed(&bytes.back(), 1, used) == FrameReader::Status::message);
  CHECK(used == 1);
  const auto message = reader.take_message();
  CHECK(message.kind == IncomingMessage::Kind::text);
  CHECK(message.payload == "Hello w\xc3\xa9rld");
}

TEST_CASE("FrameReader: a ping between two fragments is delivered first") {
  const Bytes first = build({.opcode = 0x1, .payload = "ab", .fin = false});
  const Bytes ping = build({.opcode = 0x9, .payload = "p"});
  const Bytes last = build({.opcode = 0x0, .payload = "cd"});
  const Bytes bytes = concat({first, ping, last});
  FrameReader reader(1024);
  auto result = feed(reader, bytes);
  REQUIRE(result.status == FrameReader::Status::message);
  CHECK(result.used == first.size() + ping.size());
  auto message = reader.take_message();
  CHECK(message.kind == IncomingMessage::Kind::ping);
  CHECK(message.payload == "p");
  const std::size_t offset = result.used;
  result = feed(reader, bytes, offset);
  REQUIRE(result.status == FrameReader::Status::message);
  CHECK(result.used == last.size());
  message = reader.take_message();
  CHECK(message.kind == IncomingMessage::Kind::text);
  CHECK(message.payload == "abcd");
}

TEST_CASE("FrameReader: control and binary message kinds") {
  SUBCASE("ping") {
    const auto message = single_message(build({.opcode = 0x9, .payload = "are you there"}));
    CHECK(message.kind == IncomingMessage::Kind::ping);
    CHECK(message.payload == "are you there");
  }
  SUBCASE("pong") {
    const auto message = single_message(build({.opcode = 0xa, .payload = "yes"}));
    CHECK(message.kind == IncomingMessage::Kind::pong);
    CHECK(message.payload == "yes");
  }
  SUBCASE("close") {
    const auto message = single_message(build({.opcode = 0x8,
                                               .payload = "\x03\xe8"
                                                          "done"}));
    CHECK(message.kind == IncomingMessage::Kind::close);
    CHECK(message.payload ==
          "\x03\xe8"
          "done");
    const auto close = parse_close_payload(message.payload);
    CHECK(close.valid);
    CHECK(close.code == 1000);
    CHECK(close.reason == "done");
  }
  SUBCASE("binary, not checked as UTF-8") {
    const std::string payload = "\x00\xff\xfe\x80"s;
    const auto message = single_message(build({.opcode = 0x2, .payload = payload}));
    CHECK(message.kind == IncomingMessage::Kind::binary);
    CHECK(message.payload == payload);
  }
}

TEST_CASE("FrameReader: two messages in one buffer") {
  const Bytes first = build({.opcode = 0x1, .payload = "one"});
  const Bytes second = build({.opcode = 0x1, .payload = "two!"});
  const Bytes bytes = concat({first, second});
  FrameReader reader(1024);

  auto result = feed(reader, bytes);
  REQUIRE(result.status == FrameReader::Status::message);
  CHECK(result.used == first.size());  // stops after the first message
  CHECK(reader.take_message().payload == "one");

  result = feed(reader, bytes, first.size());
  REQUIRE(result.status == FrameReader::Status::message);
  CHECK(result.used == second.size());
  CHECK(reader.take_message().payload == "two!");

  result = feed(reader, bytes, bytes.size());
  CHECK(result.status == FrameReader::Status::need_more);
  CHECK(result.used == 0);
}

TEST_CASE("FrameReader: a partial frame needs more") {
  const Bytes bytes = build({.opcode = 0x1, .payload = "partial"});
  FrameReader reader(1024);
  const auto result = feed(reader, Bytes(bytes.begin(), bytes.end() - 3));
  CHECK(result.status == FrameReader::Status::need_more);
  CHECK(result.used == bytes.size() - 3);
}

TEST_CASE("FrameReader: protocol errors and their close codes") {
  SUBCASE("unmasked client frame -> 1002") {
    CHECK(error_of(build({.opcode = 0x1, .payload = "hi", .masked = false})) == close_code::protocol_error);
  }
  SUBCASE("RSV1 set without an extension -> 1002") {
    CHECK(error_of(build({.opcode = 0x1, .payload = "hi", .rsv = 4})) == close_code::protocol_error);
  }
  SUBCASE("RSV2 / RSV3 set -> 1002") {
    CHECK(error_of(build({.opcode = 0x1, .payload = "hi", .rsv = 2})) == close_code::protocol_error);
    CHECK(error_of(build({.opcode = 0x1, .payload = "hi", .rsv = 1})) == close_code::protocol_error);
  }
  SUBCASE("reserved opcode -> 1002") {
    CHECK(error_of(build({.opcode = 0x3, .payload = "hi"})) == close_code::protocol_error);
    CHECK(error_of(build({.opcode = 0xb, .payload = ""})) == close_code::protocol_error);
  }
  SUBCASE("continuation without a message -> 1002") {
    CHECK(error_of(build({.opcode = 0x0, .payload = "x"})) == close_code::protocol_error);
  }
  SUBCASE("new text frame while a fragmented message is open -> 1002") {
    const Bytes bytes = concat(
        {build({.opcode = 0x1, .payload = "a", .fin = false}), build({.opcode = 0x1, .payload = "b"})});
    FrameReader reader(1024);
    auto result = feed(reader, bytes);
    REQUIRE(result.status == FrameReader::Status::error);
    CHECK(reader.error_code() == close_code::protocol_error);
  }
  SUBCASE("fragmented control frame -> 1002") {
    CHECK(error_of(build({.opcode = 0x9, .payload = "p", .fin = false})) == close_code::protocol_error);
  }
  SUBCASE("control frame over 125 bytes -> 1002") {
    CHECK(error_of(build({.opcode = 0x9, .payload = std::string(126, 'p')})) == close_code::protocol_error);
    CHECK(error_of(build({.opcode = 0x8, .payload = "\x03\xe8" + std::string(124, 'r')})) ==
          close_code::protocol_error);
  }
  SUBCASE("invalid UTF-8 text -> 1007") {
    CHECK(error_of(build({.opcode = 0x1, .payload = "ok \xff"})) == close_code::invalid_payload);
    CHECK(error_of(build({.opcode = 0x1, .payload = "\xed\xa0\x80"})) == close_code::invalid_payload);
  }
  SUBCASE("text ending inside a character -> 1007") {
    CHECK(error_of(build({.opcode = 0x1, .payload = "caf\xc3"})) == close_code::invalid_payload);
  }
}

// Fragmentation must not hide a truncated character: the message as a whole is invalid UTF-8.
// The server frees the parser between reads when it is between messages (release_if_idle): a fragmented
// message, a control frame between its fragments, and a header split across reads must all survive that.
TEST_CASE("FrameReader: release_if_idle between reads keeps unfinished messages and headers") {
  const Bytes first = build({.opcode = 0x1, .payload = "hel", .fin = false});
  const Bytes ping = build({.opcode = 0x9, .payload = "mid"});
  const Bytes last = build({.opcode = 0x0, .payload = "lo", .fin = true});
  FrameReader reader(1024);
  CHECK(feed(reader, first).status == FrameReader::Status::need_more);
  reader.release_if_idle();
  REQUIRE(feed(reader, ping).status == FrameReader::Status::message);
  CHECK(reader.take_message().kind == IncomingMessage::Kind::ping);
  reader.release_if_idle();
  CHECK(feed(reader, Bytes(last.begin(), last.begin() + 1)).status == FrameReader::Status::need_more);
  reader.release_if_idle();
  REQUIRE(feed(reader, Bytes(last.begin() + 1, last.end())).status == FrameReader::Status::message);
  const auto message = reader.take_message();
  CHECK(message.kind == IncomingMessage::Kind::text);
  CHECK(message.payload == "hello");
  reader.release_if_idle();
  // Between messages now: the next message parses from a fresh parser.
  REQUIRE(feed(reader, build({.opcode = 0x1, .payload = "next"})).status == FrameReader::Status::message);
  CHECK(reader.take_message().payload == "next");
}

TEST_CASE("FrameReader: fragmented text ending inside a character -> 1007") {
  const Bytes bytes = concat({build({.opcode = 0x1, .payload = "caf\xc3", .fin = false}),
                              build({.opcode = 0x0, .payload = "", .fin = true})});
  FrameReader reader(1024);
  const auto result = feed(reader, bytes);
  CHECK(result.status == FrameReader::Status::error);
  CHECK(reader.error_code() == close_code::invalid_payload);
  if (result.status == FrameReader::Status::message) {
    const auto message = reader.take_message();
    CHECK_MESSAGE(is_valid_utf8(message.payload), "delivered a text message that is not UTF-8");
  }
}

TEST_CASE("FrameReader: a length not in its shortest form -> 1002") {
  // 5 bytes announced with the 16-bit length form.
  const Bytes bytes = {0x81, 0x80 | 126, 0x00,       0x05,       0x01,       0x02,      0x03,
                       0x04, 'h' ^ 0x01, 'e' ^ 0x02, 'l' ^ 0x03, 'l' ^ 0x04, 'o' ^ 0x01};
  CHECK(error_of(bytes) == close_code::protocol_error);
}

TEST_CASE("FrameReader: message size limit") {
  SUBCASE("exactly the limit is accepted") {
    const auto message = single_message(build({.opcode = 0x1, .payload = std::string(16, 'x')}), 16);
    CHECK(message.payload == std::string(16, 'x'));
  }
  SUBCASE("one frame over the limit -> 1009") {
    CHECK(error_of(build({.opcode = 0x1, .payload = std::string(17, 'x')}), 16) ==
          close_code::message_too_big);
  }
  SUBCASE("fragments adding up to more than the limit -> 1009") {
    const Bytes bytes = concat({build({.opcode = 0x1, .payload = std::string(10, 'x'), .fin = false}),
                                build({.opcode = 0x0, .payload = std::string(10, 'y')})});
    CHECK(error_of(bytes, 16) == close_code::message_too_big);
  }
  SUBCASE("the limit applies to binary messages too") {
    CHECK(error_of(build({.opcode = 0x2, .payload = std::string(17, 'x')}), 16) ==
          close_code::message_too_big);
  }
}

// A frame header alone, masked, declaring `length` bytes with the 64-bit length form.
Bytes header_declaring(std::uint8_t first_byte, std::uint64_t length) {
  Bytes out = {first_byte, 0x80 | 127};
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(length >> shift));
  out.insert(out.end(), {0x01, 0x02, 0x03, 0x04});
  return out;
}

TEST_CASE("FrameReader: declared lengths are checked from the header alone, without overflow") {
  const Bytes one_byte_start = build({.opcode = 0x1, .payload = "x", .fin = false});
  SUBCASE("a continuation declaring 2^64-1 after a 1-byte fragment -> 1002 (high bit set, RFC 6455 5.2)") {
    CHECK(error_of(concat({one_byte_start, header_declaring(0x80, ~std::uint64_t{0})})) ==
          close_code::protocol_error);
  }
  SUBCASE("a continuation declaring 2^63-1 after a 1-byte fragment -> 1009, not a wrapped sum") {
    CHECK(error_of(concat({one_byte_start, header_declaring(0x80, (std::uint64_t{1} << 63) - 1)})) ==
          close_code::message_too_big);
  }
  SUBCASE("a single frame declaring more than the limit -> 1009 before any payload byte") {
    CHECK(error_of(header_declaring(0x81, 1025)) == close_code::message_too_big);
  }
  SUBCASE("a length with the high bit set in a first frame -> 1002") {
    CHECK(error_of(header_declaring(0x81, std::uint64_t{1} << 63)) == close_code::protocol_error);
  }
  SUBCASE("the header may arrive a byte at a time: the error comes with its last byte") {
    FrameReader reader(1024);
    const Bytes bytes = concat({one_byte_start, header_declaring(0x80, ~std::uint64_t{0})});
    for (std::size_t i = 0; i + 1 < bytes.size(); ++i) {
      REQUIRE(feed(reader, Bytes{bytes[i]}).status == FrameReader::Status::need_more);
      reader.release_if_idle();
    }
    CHECK(feed(reader, Bytes{bytes.back()}).status == FrameReader::Status::error);
    CHECK(reader.error_code() == close_code::protocol_error);
  }
}

TEST_CASE("FrameReader: continuations add up against the limit") {
  const auto fragment = [](std::uint8_t opcode, std::size_t size, bool fin) {
    return build({.opcode = opcode, .payload = std::string(size, 'x'), .fin = fin});
  };
  SUBCASE("6 + 6 + 4 = the limit exactly: one message") {
    const auto message = single_message(
        concat({fragment(0x1, 6, false), fragment(0x0, 6, false), fragment(0x0, 4, true)}), 16);
    CHECK(message.payload.size() == 16);
  }
  SUBCASE("6 + 6 + 5: the third header is refused before its payload") {
    FrameReader reader(16);
    const Bytes first_two = concat({fragment(0x1, 6, false), fragment(0x0, 6, false)});
    CHECK(feed(reader, first_two).status == FrameReader::Status::need_more);
    const Bytes third = fragment(0x0, 5, true);
    CHECK(feed(reader, Bytes(third.begin(), third.begin() + 6)).status == FrameReader::Status::error);
    CHECK(reader.error_code() == close_code::message_too_big);
  }
  SUBCASE("a ping between fragments does not reset the count") {
    const Bytes bytes =
        concat({fragment(0x1, 10, false), build({.opcode = 0x9, .payload = "p"}), fragment(0x0, 10, true)});
    FrameReader reader(16);
    auto result = feed(reader, bytes);
    REQUIRE(result.status == FrameReader::Status::message);
    CHECK(reader.take_message().kind == IncomingMessage::Kind::ping);
    CHECK(feed(reader, bytes, result.used).status == FrameReader::Status::error);
    CHECK(reader.error_code() == close_code::message_too_big);
  }
  SUBCASE("a new message starts counting from zero") {
    FrameReader reader(16);
    for (int i = 0; i < 3; ++i) {
      REQUIRE(feed(reader, concat({fragment(0x1, 8, false), fragment(0x0, 8, true)})).status ==
              FrameReader::Status::message);
      CHECK(reader.take_message().payload.size() == 16);
    }
  }
}

TEST_CASE("parse_close_payload") {
  SUBCASE("empty payload: 1005, valid") {
    const auto close = parse_close_payload("");
    CHECK(close.valid);
    CHECK(close.code == 1005);
    CHECK(close.reason.empty());
  }
  SUBCASE("code and reason") {
    const auto close = parse_close_payload("\x0f\xa0going \xc3\xa9");
    CHECK(close.valid);
    CHECK(close.code == 4000);
    CHECK(close.reason == "going \xc3\xa9");
  }
  SUBCASE("code only") {
    const auto close = parse_close_payload("\x03\xe9");
    CHECK(close.valid);
    CHECK(close.code == 1001);
    CHECK(close.reason.empty());
  }
  SUBCASE("one byte: invalid") {
    CHECK_FALSE(parse_close_payload("\x03").valid);
  }
  SUBCASE("1005 and 1006 may not be sent on the wire") {
    CHECK_FALSE(parse_close_payload("\x03\xed").valid);  // 1005
    CHECK_FALSE(parse_close_payload("\x03\xee").valid);  // 1006
  }
  SUBCASE("codes below 1000 or reserved are invalid") {
    CHECK_FALSE(parse_close_payload("\x03\xe7").valid);  // 999
    CHECK_FALSE(parse_close_payload("\x03\xf7").valid);  // 1015 (TLS handshake)
  }
  SUBCASE("invalid UTF-8 reason") {
    const auto close = parse_close_payload("\x03\xe8\xff\xfe");
    CHECK_FALSE(close.valid);
    CHECK(close.code == 1000);
  }
}

// ---------------------------------------------------------------------------------------------------
// http_request

TEST_CASE("HttpRequestReader: a simple GET") {
  const std::string request = "GET /index.html?x=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n";
  Parsed parsed(request);
  CHECK(parsed.used == request.size());
  const auto& reader = parsed.reader;
  REQUIRE(reader.state() == HttpRequestReader::State::complete);
  CHECK(reader.headers_complete());
  CHECK(reader.error_status() == 0);
  CHECK(reader.method() == "GET");
  CHECK(reader.target() == "/index.html?x=1");
  CHECK(reader.version() == "HTTP/1.1");
  CHECK(reader.header("Host") == "example.com");
  CHECK(reader.header("Accept") == "*/*");
  CHECK(reader.header("X-Absent") == "");
  CHECK(reader.body().empty());
  CHECK(reader.keep_alive());
  CHECK_FALSE(reader.expects_continue());
  CHECK_FALSE(reader.is_websocket_upgrade());
}

TEST_CASE("HttpRequestReader: header lookup is case-insensitive") {
  Parsed parsed("GET / HTTP/1.1\r\nHost: h\r\nX-Custom-Thing: Value\r\ncontent-type: text/plain\r\n\r\n");
  REQUIRE(parsed.reader.state() == HttpRequestReader::State::complete);
  CHECK(parsed.reader.header("x-custom-thing") == "Value");
  CHECK(parsed.reader.header("X-CUSTOM-THING") == "Value");
  CHECK(parsed.reader.header("Content-Type") == "text/plain");
  CHECK(parsed.reader.header("HOST") == "h");
}

TEST_CASE("HttpRequestReader: headers fed one byte at a time") {
  const std::string request = "GET /chat HTTP/1.1\r\nHost: example.com\r\nUser-Agent: test\r\n\r\n";
  HttpRequestReader reader(8192, 1024);
  for (std::size_t i = 0; i < request.size(); ++i) {
    REQUIRE_MESSAGE(reader.state() == HttpRequestReader::State::reading_headers, "byte " << i);
    CHECK_MESSAGE(!reader.headers_complete(), "byte " << i);
    REQUIRE_MESSAGE(reader.feed(std::string_view(request).substr(i, 1)) == 1, "byte " << i);
  }
  REQUIRE(reader.state() == HttpRequestReader::State::complete);
  CHECK(reader.target() == "/chat");
  CHECK(reader.header("User-Agent") == "test");
  // A complete request takes no more bytes.
  CHECK(reader.feed("GET") == 0);
}

TEST_CASE("HttpRequestReader: headers split in the middle of the blank line") {
  const std::string request = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
  HttpRequestReader reader(8192, 1024);
  const std::size_t cut = request.size() - 3;  // "...h\r" | "\n\r\n"
  CHECK(reader.feed(std::string_view(request).substr(0, cut)) == cut);
  CHECK(reader.state() == HttpRequestReader::State::reading_headers);
  CHECK(reader.feed(std::string_view(request).substr(cut)) == 3);
  CHECK(reader.state() == HttpRequestReader::State::complete);
}

TEST_CASE("HttpRequestReader: a POST whose body arrives after the headers") {
  const std::string head = "POST /publish HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n";
  HttpRequestReader reader(8192, 1024);
  CHECK(reader.feed(head) == head.size());
  CHECK(reader.state() == HttpRequestReader::State::reading_body);
  CHECK(reader.headers_complete());
  CHECK(reader.method() == "POST");
  CHECK(reader.header("Content-Length") == "11");
  CHECK_FALSE(reader.expects_continue());

  CHECK(reader.feed("hello") == 5);
  CHECK(reader.state() == HttpRequestReader::State::reading_body);
  // The rest of the body, then the start of the next request: only the body is used.
  CHECK(reader.feed(" worldGET / HTTP/1.1\r\n") == 6);
  CHECK(reader.state() == HttpRequestReader::State::complete);
  CHECK(reader.body() == "hello world");
}

TEST_CASE("HttpRequestReader: headers and body in one buffer") {
  const std::string request = "POST /publish HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
  Parsed parsed(request);
  CHECK(parsed.used == request.size());
  REQUIRE(parsed.reader.state() == HttpRequestReader::State::complete);
  CHECK(parsed.reader.body() == "abc");
}

TEST_CASE("HttpRequestReader: Content-Length 0") {
  Parsed parsed("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
  REQUIRE(parsed.reader.state() == HttpRequestReader::State::complete);
  CHECK(parsed.reader.body().empty());
}

TEST_CASE("HttpRequestReader: pipelined requests") {
  const std::string first = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
  const std::string second = "GET /b HTTP/1.1\r\nHost: h\r\n\r\n";
  Parsed parsed(first + second);
  CHECK(parsed.used == first.size());
  REQUIRE(parsed.reader.state() == HttpRequestReader::State::complete);
  CHECK(parsed.reader.target() == "/a");

  Parsed next(second);
  CHECK(next.used == second.size());
  CHECK(next.reader.target() == "/b");

  SUBCASE("a POST then a GET") {
    const std::string post = "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbody";
    Parsed both(post + second);
    CHECK(both.used == post.size());
    CHECK(both.reader.body() == "body");
  }
}

TEST_CASE("HttpRequestReader: frame bytes after a WebSocket handshake are left unused") {
  const std::string handshake = upgrade_request();
  const std::string frame = text_frame("early");  // stands in for the client's first frame
  Parsed parsed(handshake + frame);
  CHECK(parsed.used == handshake.size());
  REQUIRE(parsed.reader.state() == HttpRequestReader::State::complete);
  CHECK(parsed.reader.is_websocket_upgrade());
  CHECK(parsed.reader.body().empty());
}

TEST_CASE("HttpRequestReader: header size limit -> 431") {
  SUBCASE("in one buffer, with the blank line") {
    const std::string request = "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(300, 'a') + "\r\n\r\n";
    Parsed parsed(request, 256);
    CHECK(parsed.reader.state() == HttpRequestReader::State::failed);
    CHECK(parsed.reader.error_status() == 431);
    CHECK(parsed.used == request.size());
  }
  SUBCASE("without ever ending") {
    HttpRequestReader reader(256, 1024);
    reader.feed("GET / HTTP/1.1\r\nHost: h\r\n");
    reader.feed("X-Big: " + std::string(300, 'a'));
    CHECK(reader.state() == HttpRequestReader::State::failed);
    CHECK(reader.error_status() == 431);
    CHECK_FALSE(reader.error_message().empty());
  }
  SUBCASE("byte by byte") {
    const std::string request = "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(300, 'a');
    HttpRequestReader reader(256, 1024);
    for (char c : request) reader.feed(std::string_view(&c, 1));
    CHECK(reader.state() == HttpRequestReader::State::failed);
    CHECK(reader.error_status() == 431);
  }
  SUBCASE("headers just within the limit") {
    // max_header_size counts the request line and headers with their CRLFs, not the final blank line.
    std::string request = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: ";
    request += std::string(64 - request.size() - 2, 'p') + "\r\n";
    REQUIRE(request.size() == 64);
    request += "\r\n";
    Parsed whole(request, 64);
    CHECK(whole.reader.state() == HttpRequestReader::State::complete);
    CHECK(whole.used == request.size());
    // One byte more is too much.
    std::string over = request;
    over.insert(over.find("\r\n\r\n"), "p");
    Parsed too_big(over, 64);
    CHECK(too_big.reader.error_status() == 431);
  }
}

// The outcome of a request must not depend on how TCP happens to cut it.
TEST_CASE("HttpRequestReader: the header limit does not depend on how the bytes are split") {
  std::string request = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: ";
  request += std::string(64 - request.size() - 2, 'p') + "\r\n\r\n";
  REQUIRE(request.size() == 66);  // 64 bytes of headers and the blank line: accepted in one feed

  HttpRequestReader whole(64, 1024);
  whole.feed(request);
  REQUIRE(whole.state() == HttpRequestReader::State::complete);

  HttpRequestReader split(64, 1024);
  split.feed(std::string_view(request).substr(0, 65));  // all but the last '\n'
  split.feed(std::string_view(request).substr(65));
  CHECK(split.state() == HttpRequestReader::State::complete);
  CHECK(split.error_status() == 0);
}

// limits.max_header_size may be configured up to 12KiB (docs/config.md): a head under it must be read, even
// one of the shortest lines HTTP allows, which cost websocketpp's parser the most per byte.
TEST_CASE("HttpRequestReader: a head just under a 12KiB limit, in the shortest possible lines") {
  std::string request = "GET / HTTP/1.1\r\nHost: h\r\n";
  while (request.size() + 4 <= 12288) request += "a:\r\n";  // 4 bytes a line, the value empty
  request += "\r\n";
  REQUIRE(request.size() > 12280);
  Parsed parsed(request, 12288);
  CHECK(parsed.reader.error_status() == 0);
  CHECK(parsed.reader.state() == HttpRequestReader::State::complete);
}

TEST_CASE("HttpRequestReader: malformed requests -> 400") {
  SUBCASE("request line without spaces") {
    Parsed parsed("GARBAGE\r\nHost: h\r\n\r\n");
    CHECK(parsed.reader.state() == HttpRequestReader::State::failed);
    CHECK(parsed.reader.error_status() == 400);
  }
  SUBCASE("request line without a version") {
    Parsed parsed("GET /\r\nHost: h\r\n\r\n");
    CHECK(parsed.reader.state() == HttpRequestReader::State::failed);
    CHECK(parsed.reader.error_status() == 400);
  }
  SUBCASE("missing Host") {
    Parsed parsed("GET / HTTP/1.1\r\nAccept: */*\r\n\r\n");
    CHECK(parsed.reader.state() == HttpRequestReader::State::failed);
    CHECK(parsed.reader.error_status() == 400);
    CHECK_FALSE(parsed.reader.error_message().empty());
  }
  SUBCASE("Content-Length not a number") {
    Parsed parsed("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: abc\r\n\r\n");
    CHECK(parsed.reader.state() == HttpRequestReader::State::failed);
    CHECK(parsed.reader.error_status() == 400);
  }
  SUBCASE("Content-Length with trailing junk") {
    Parsed parsed("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3x\r\n\r\nabc");
    CHECK(parsed.reader.error_status() == 400);
  }
  SUBCASE("negative Content-Length") {
    Parsed parsed("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n");
    CHECK(parsed.reader.state() == HttpRequestReader::State::failed);
    CHECK(parsed.reader.error_status() == 400);
  }
}

TEST_CASE("HttpRequestReader: unsupported HTTP version -> 505") {
  Parsed parsed("GET / HTTP/2.0\r\nHost: h\r\n\r\n");
  CHECK(parsed.reader.state() == HttpRequestReader::State::failed);
  CHECK(parsed.reader.error_status() == 505);
}

TEST_CASE("HttpRequestReader: Transfer-Encoding chunked -> 411") {
  Parsed parsed("POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
  CHECK(parsed.reader.state() == HttpRequestReader::State::failed);
  CHECK(parsed.reader.error_status() == 411);
}

TEST_CASE("HttpRequestReader: body size limit") {
  SUBCASE("over the limit -> 413") {
    Parsed parsed("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 1025\r\n\r\n", 8192, 1024);
    CHECK(parsed.reader.state() == HttpRequestReader::State::failed);
    CHECK(parsed.reader.error_status() == 413);
  }
  SUBCASE("exactly the limit is fine") {
    const std::string body(1024, 'b');
    Parsed parsed("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 1024\r\n\r\n" + body, 8192, 1024);
    REQUIRE(parsed.reader.state() == HttpRequestReader::State::complete);
    CHECK(parsed.reader.body() == body);
  }
}

TEST_CASE("HttpRequestReader: Expect: 100-continue") {
  SUBCASE("waiting for the body") {
    HttpRequestReader reader(8192, 1024);
    reader.feed("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nExpect: 100-Continue\r\n\r\n");
    REQUIRE(reader.state() == HttpRequestReader::State::reading_body);
    CHECK(reader.expects_continue());
    CHECK(reader.feed("ok") == 2);
    CHECK(reader.state() == HttpRequestReader::State::complete);
    CHECK_FALSE(reader.expects_continue());  // the body is here: nothing to wait for
  }
  SUBCASE("body already sent") {
    Parsed parsed("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nok");
    CHECK(parsed.reader.state() == HttpRequestReader::State::complete);
    CHECK_FALSE(parsed.reader.expects_continue());
  }
  SUBCASE("no Expect header") {
    HttpRequestReader reader(8192, 1024);
    reader.feed("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n");
    CHECK_FALSE(reader.expects_continue());
  }
}

TEST_CASE("HttpRequestReader: keep_alive") {
  CHECK(Parsed("GET / HTTP/1.1\r\nHost: h\r\n\r\n").reader.keep_alive());
  CHECK(Parsed("GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n\r\n").reader.keep_alive());
  CHECK_FALSE(Parsed("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").reader.keep_alive());
  CHECK_FALSE(Parsed("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, Close\r\n\r\n").reader.keep_alive());
  CHECK_FALSE(Parsed("GET / HTTP/1.0\r\nHost: h\r\n\r\n").reader.keep_alive());
  CHECK(Parsed("GET / HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n").reader.keep_alive());
  CHECK(Parsed("GET / HTTP/1.0\r\nHost: h\r\nConnection: Keep-Alive\r\n\r\n").reader.keep_alive());
  CHECK_FALSE(Parsed("GET / HTTP/1.0\r\nHost: h\r\nConnection: close\r\n\r\n").reader.keep_alive());
}

TEST_CASE("HttpRequestReader: is_websocket_upgrade") {
  CHECK(Parsed(upgrade_request()).reader.is_websocket_upgrade());
  CHECK(Parsed("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n\r\n")
            .reader.is_websocket_upgrade());
  CHECK_FALSE(
      Parsed("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n").reader.is_websocket_upgrade());
  CHECK_FALSE(
      Parsed("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\n\r\n").reader.is_websocket_upgrade());
  CHECK_FALSE(Parsed("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n")
                  .reader.is_websocket_upgrade());
}

// ---------------------------------------------------------------------------------------------------
// http_response

TEST_CASE("serialize") {
  SUBCASE("status line, Content-Type, Content-Length, body") {
    HttpResponse response;
    response.body = "hello";
    CHECK(serialize(response) ==
          "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 5\r\n\r\nhello");
  }
  SUBCASE("extra headers and Connection: close") {
    const HttpResponse response{.status = 404,
                                .content_type = "application/json",
                                .body = "{}",
                                .headers = {{"Cache-Control", "no-store"}, {"X-A", "b"}},
                                .close = true};
    CHECK(serialize(response) ==
          "HTTP/1.1 404 Not Found\r\nCache-Control: no-store\r\nX-A: b\r\nContent-Type: application/json\r\n"
          "Content-Length: 2\r\nConnection: close\r\n\r\n{}");
  }
  SUBCASE("head_only keeps Content-Length but omits the body") {
    HttpResponse response;
    response.body = "hello";
    CHECK(serialize(response, true) ==
          "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 5\r\n\r\n");
  }
  SUBCASE("empty body") {
    HttpResponse response;
    response.status = 202;
    response.content_type.clear();
    CHECK(serialize(response) == "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n");
  }
  SUBCASE("101 and 204 carry no Content-Length") {
    HttpResponse response;
    response.status = 101;
    response.content_type.clear();
    response.headers = {{"Upgrade", "websocket"}};
    CHECK(serialize(response) == "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n");
    response.status = 204;
    response.headers.clear();
    CHECK(serialize(response) == "HTTP/1.1 204 No Content\r\n\r\n");
  }
}

TEST_CASE("error_response and reason_phrase") {
  const auto response = error_response(429, "slow \"down\"");
  CHECK(response.status == 429);
  CHECK(response.content_type == "application/json");
  CHECK(response.body == "{\"error\":\"slow \\\"down\\\"\"}\n");
  CHECK(reason_phrase(400) == "Bad Request");
  CHECK(reason_phrase(413) == "Content Too Large");
  CHECK(reason_phrase(426) == "Upgrade Required");
  CHECK(reason_phrase(431) == "Request Header Fields Too Large");
  CHECK(reason_phrase(299) == "Unknown");
}

// ---------------------------------------------------------------------------------------------------
// websocket_handshake

TEST_CASE("accept_websocket: the RFC 6455 example") {
  Parsed parsed(upgrade_request());
  REQUIRE(parsed.reader.state() == HttpRequestReader::State::complete);
  const auto result = accept_websocket(parsed.reader);
  CHECK(result.accepted);
  CHECK(result.response.status == 101);
  CHECK(header_value(result.response, "Sec-WebSocket-Accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  CHECK(header_value(result.response, "Upgrade") == "websocket");
  CHECK(header_value(result.response, "Connection") == "Upgrade");
  const std::string wire = serialize(result.response);
  CHECK(wire.rfind("HTTP/1.1 101 Switching Protocols\r\n", 0) == 0);
  CHECK(wire.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") != std::string::npos);
  CHECK(wire.find("Content-Length") == std::string::npos);
  CHECK(wire.substr(wire.size() - 4) == "\r\n\r\n");
}

TEST_CASE("accept_websocket: refusals") {
  SUBCASE("no Upgrade -> 426 with Upgrade and Sec-WebSocket-Version") {
    Parsed parsed(upgrade_request("GET", "HTTP/1.1", rfc_key, "13", false));
    const auto result = accept_websocket(parsed.reader);
    CHECK_FALSE(result.accepted);
    CHECK(result.response.status == 426);
    CHECK(header_value(result.response, "Upgrade") == "websocket");
    CHECK(header_value(result.response, "Sec-WebSocket-Version") == "13");
    CHECK(result.response.close);
  }
  SUBCASE("version 8 -> 426") {
    Parsed parsed(upgrade_request("GET", "HTTP/1.1", rfc_key, "8"));
    const auto result = accept_websocket(parsed.reader);
    CHECK_FALSE(result.accepted);
    CHECK(result.response.status == 426);
    CHECK(header_value(result.response, "Sec-WebSocket-Version") == "13");
  }
  SUBCASE("POST -> 400") {
    Parsed parsed(upgrade_request("POST"));
    REQUIRE(parsed.reader.state() == HttpRequestReader::State::complete);
    const auto result = accept_websocket(parsed.reader);
    CHECK_FALSE(result.accepted);
    CHECK(result.response.status == 400);
    CHECK(header_value(result.response, "Upgrade") == "<absent>");
  }
  SUBCASE("HTTP/1.0 -> 400") {
    Parsed parsed(upgrade_request("GET", "HTTP/1.0"));
    const auto result = accept_websocket(parsed.reader);
    CHECK_FALSE(result.accepted);
    CHECK(result.response.status == 400);
  }
  SUBCASE("bad keys -> 400") {
    for (std::string_view key : {"abc"sv, "dGhlIHNhbXBsZSBub25jZQ="sv, "dGhlIHNhbXBsZSBub25jZ!=="sv,
                                 "dGhlIHNhbXBsZSBub25jZQ==="sv}) {
      Parsed parsed(upgrade_request("GET", "HTTP/1.1", key));
      const auto result = accept_websocket(parsed.reader);
      CHECK_MESSAGE(!result.accepted, key);
      CHECK_MESSAGE(result.response.status == 400, key);
    }
  }
  SUBCASE("missing key -> 400") {
    Parsed parsed(
        "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n");
    const auto result = accept_websocket(parsed.reader);
    CHECK_FALSE(result.accepted);
    CHECK(result.response.status == 400);
  }
}

// ---------------------------------------------------------------------------------------------------
// json

TEST_CASE("append_json_string") {
  auto json = [](std::string_view text) {
    std::string out = "<";
    append_json_string(out, text);
    return out;
  };
  CHECK(json("") == "<\"\"");
  CHECK(json("plain text") == "<\"plain text\"");
  CHECK(json("say \"hi\"") == "<\"say \\\"hi\\\"\"");
  CHECK(json("back\\slash") == "<\"back\\\\slash\"");
  CHECK(json("a\nb\rc\td\be\ff") == "<\"a\\nb\\rc\\td\\be\\ff\"");
  CHECK(json("\x01\x1f"s) == "<\"\\u0001\\u001f\"");
  CHECK(json("nul\0byte"s) == "<\"nul\\u0000byte\"");
  CHECK(json("\x0b") == "<\"\\u000b\"");
  CHECK(json("del\x7f") == "<\"del\x7f\"");
  CHECK(json("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80") ==
        "<\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
  CHECK(json("/") == "<\"/\"");
}

TEST_CASE("append_event_json") {
  Event event;
  event.id = 17;
  event.room = "ops";
  event.type = "message";
  event.name = "alice";
  event.text = "deploy \"done\"\n";
  event.ts = 1763800000123;
  std::string out = "data: ";
  append_event_json(out, event);
  CHECK(out ==
        "data: {\"id\":17,\"room\":\"ops\",\"type\":\"message\",\"name\":\"alice\","
        "\"text\":\"deploy \\\"done\\\"\\n\",\"ts\":1763800000123}");

  Event extremes;
  extremes.type = "message";
  extremes.id = 18446744073709551615ull;
  extremes.ts = -5;
  std::string out2;
  append_event_json(out2, extremes);
  CHECK(out2 ==
        "{\"id\":18446744073709551615,\"room\":\"\",\"type\":\"message\",\"name\":\"\",\"text\":\"\",\"ts\":-"
        "5}");

  // join and leave carry no text.
  Event leave{18, "ops", "leave", "alice", "ignored", 1763800000456};
  std::string out3;
  append_event_json(out3, leave);
  CHECK(out3 == "{\"id\":18,\"room\":\"ops\",\"type\":\"leave\",\"name\":\"alice\",\"ts\":1763800000456}");
}

TEST_CASE("error_json") {
  CHECK(error_json("room not found") == "{\"error\":\"room not found\"}");
  CHECK(error_json("bad \"x\"\t") == "{\"error\":\"bad \\\"x\\\"\\t\"}");
}

// ---------------------------------------------------------------------------------------------------
// uri

TEST_CASE("split_target") {
  auto target = split_target("/subscribe?room=ops&format=json");
  CHECK(target.path == "/subscribe");
  CHECK(target.query == "room=ops&format=json");
  target = split_target("/plain");
  CHECK(target.path == "/plain");
  CHECK(target.query.empty());
  target = split_target("/empty?");
  CHECK(target.path == "/empty");
  CHECK(target.query.empty());
  target = split_target("/a?b=c?d");
  CHECK(target.path == "/a");
  CHECK(target.query == "b=c?d");
  target = split_target("/p%3Fq?x");
  CHECK(target.path == "/p%3Fq");
  CHECK(target.query == "x");
}

TEST_CASE("percent_decode") {
  CHECK(percent_decode("", false) == "");
  CHECK(percent_decode("abc", false) == "abc");
  CHECK(percent_decode("%41%62c", false) == "Abc");
  CHECK(percent_decode("%2e%2E", false) == "..");
  CHECK(percent_decode("caf%C3%A9", false) == "caf\xc3\xa9");
  CHECK(percent_decode("end%41", false) == "endA");
  SUBCASE("malformed escapes") {
    CHECK_FALSE(percent_decode("%", false).has_value());
    CHECK_FALSE(percent_decode("%4", false).has_value());
    CHECK_FALSE(percent_decode("abc%4", false).has_value());
    CHECK_FALSE(percent_decode("%zz", false).has_value());
    CHECK_FALSE(percent_decode("%4g", false).has_value());
    CHECK_FALSE(percent_decode("%g4", false).has_value());
  }
  SUBCASE("an encoded NUL is rejected") {
    CHECK_FALSE(percent_decode("%00", false).has_value());
    CHECK_FALSE(percent_decode("a%00b", true).has_value());
  }
  SUBCASE("'+'") {
    CHECK(percent_decode("a+b", true) == "a b");
    CHECK(percent_decode("a+b", false) == "a+b");
    CHECK(percent_decode("a%2Bb", true) == "a+b");
    CHECK(percent_decode("%20", false) == " ");
  }
}

TEST_CASE("query_param") {
  auto value = query_param("room=ops&format=json", "format");
  CHECK(value.present);
  CHECK(value.valid);
  CHECK(value.value == "json");

  SUBCASE("first match wins") {
    value = query_param("room=a&room=b", "room");
    CHECK(value.present);
    CHECK(value.value == "a");
  }
  SUBCASE("bare key") {
    value = query_param("x=1&flag&y=2", "flag");
    CHECK(value.present);
    CHECK(value.valid);
    CHECK(value.value == "");
  }
  SUBCASE("empty value") {
    value = query_param("name=", "name");
    CHECK(value.present);
    CHECK(value.value == "");
  }
  SUBCASE("absent key, and keys that only share a prefix") {
    value = query_param("rooms=x&roo=y", "room");
    CHECK_FALSE(value.present);
    CHECK(value.value == "");
    CHECK_FALSE(query_param("", "room").present);
  }
  SUBCASE("decoded value, '+' is a space") {
    value = query_param("name=J%C3%B6rg+M%26M", "name");
    CHECK(value.valid);
    CHECK(value.value == "J\xc3\xb6rg M&M");
  }
  SUBCASE("malformed value") {
    value = query_param("room=%zz&name=a", "room");
    CHECK(value.present);
    CHECK_FALSE(value.valid);
    value = query_param("room=%00", "room");
    CHECK(value.present);
    CHECK_FALSE(value.valid);
  }
  SUBCASE("value with '='") {
    value = query_param("t=a=b", "t");
    CHECK(value.value == "a=b");
  }
}

// ---------------------------------------------------------------------------------------------------
// utf8

TEST_CASE("is_valid_utf8") {
  CHECK(is_valid_utf8(""));
  CHECK(is_valid_utf8("plain ascii"));
  CHECK(is_valid_utf8("caf\xc3\xa9"));
  CHECK(is_valid_utf8("\xe2\x82\xac"));
  CHECK(is_valid_utf8("\xf0\x9f\x98\x80"));
  CHECK(is_valid_utf8("\xf4\x8f\xbf\xbf"));  // U+10FFFF
  CHECK(is_valid_utf8("nul\0inside"s));
  CHECK_FALSE(is_valid_utf8("\xff"));
  CHECK_FALSE(is_valid_utf8("\x80"));              // lone continuation byte
  CHECK_FALSE(is_valid_utf8("caf\xc3"));           // truncated
  CHECK_FALSE(is_valid_utf8("\xe2\x82"));          // truncated
  CHECK_FALSE(is_valid_utf8("\xc0\xaf"));          // overlong '/'
  CHECK_FALSE(is_valid_utf8("\xe0\x80\xaf"));      // overlong
  CHECK_FALSE(is_valid_utf8("\xed\xa0\x80"));      // UTF-16 surrogate
  CHECK_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  CHECK_FALSE(is_valid_utf8("\xc3\x28"));          // bad continuation
}

TEST_CASE("utf8_prefix") {
  CHECK(utf8_prefix("abc", 10) == "abc");
  CHECK(utf8_prefix("abc", 3) == "abc");
  CHECK(utf8_prefix("abc", 2) == "ab");
  CHECK(utf8_prefix("abc", 0) == "");
  CHECK(utf8_prefix("h\xc3\xa9llo", 1) == "h");
  CHECK(utf8_prefix("h\xc3\xa9llo", 2) == "h");  // would split the 'é'
  CHECK(utf8_prefix("h\xc3\xa9llo", 3) == "h\xc3\xa9");
  CHECK(utf8_prefix("\xe2\x82\xac\xe2\x82\xac", 5) == "\xe2\x82\xac");
  CHECK(utf8_prefix("\xf0\x9f\x98\x80", 3) == "");
  CHECK(utf8_prefix("\xf0\x9f\x98\x80x", 4) == "\xf0\x9f\x98\x80");
}

// ---------------------------------------------------------------------------------------------------
// publish_body

namespace {

PublishBody accepted(std::string_view content_type, std::string_view body) {
  auto result = parse_publish_body(content_type, body);
  INFO("content type: " << content_type << ", body: " << body << ", error: " << result.error);
  REQUIRE(result.body.has_value());
  CHECK(result.status == 0);
  return *result.body;
}

PublishBodyResult refused(std::string_view content_type, std::string_view body) {
  auto result = parse_publish_body(content_type, body);
  INFO("content type: " << content_type << ", body: " << body);
  CHECK_FALSE(result.body.has_value());
  CHECK_FALSE(result.error.empty());
  return result;
}

}  // namespace

TEST_CASE("parse_publish_body: plain text") {
  auto body = accepted("text/plain", "deploy done");
  CHECK(body.text == "deploy done");
  CHECK_FALSE(body.room.has_value());
  CHECK_FALSE(body.name.has_value());

  body = accepted("application/x-www-form-urlencoded", "a+b%20c=d");
  CHECK(body.text == "a+b%20c=d");  // taken as typed, not decoded

  body = accepted("", "no content type");
  CHECK(body.text == "no content type");

  body = accepted("text/plain", "{\"text\":\"not json here\"}");
  CHECK(body.text == "{\"text\":\"not json here\"}");

  body = accepted("text/plain", "caf\xc3\xa9");
  CHECK(body.text == "caf\xc3\xa9");
}

TEST_CASE("parse_publish_body: content type parameters and case") {
  CHECK(accepted("text/plain; charset=utf-8", "hi").text == "hi");
  CHECK(accepted("Text/Plain;charset=UTF-8", "hi").text == "hi");
  CHECK(accepted("APPLICATION/JSON ; charset=utf-8", "{\"text\":\"j\"}").text == "j");
  CHECK(accepted("Application/Json", "{\"text\":\"k\"}").text == "k");
}

TEST_CASE("parse_publish_body: JSON") {
  auto body =
      accepted("application/json", R"({"room":"ops","name":"alice","text":"deploy \"done\" \u00e9"})");
  CHECK(body.text == "deploy \"done\" \xc3\xa9");
  REQUIRE(body.room.has_value());
  CHECK(*body.room == "ops");
  REQUIRE(body.name.has_value());
  CHECK(*body.name == "alice");

  body = accepted("application/json", R"({"text":"only text"})");
  CHECK(body.text == "only text");
  CHECK_FALSE(body.room.has_value());
  CHECK_FALSE(body.name.has_value());

  body = accepted("application/json", R"(  {"name":"", "text":"x"}  )");
  REQUIRE(body.name.has_value());
  CHECK(body.name->empty());
}

TEST_CASE("parse_publish_body: refusals") {
  SUBCASE("unknown JSON field") {
    const auto result = refused("application/json", R"({"text":"x","color":"red"})");
    CHECK(result.status == 400);
    CHECK(result.error.find("color") != std::string::npos);
  }
  SUBCASE("non-string field") {
    CHECK(refused("application/json", R"({"text":5})").status == 400);
    CHECK(refused("application/json", R"({"text":"x","room":null})").status == 400);
    CHECK(refused("application/json", R"({"text":"x","name":["a"]})").status == 400);
  }
  SUBCASE("invalid JSON") {
    CHECK(refused("application/json", R"({"text":"x")").status == 400);
    CHECK(refused("application/json", "").status == 400);
    CHECK(refused("application/json", "text=hello").status == 400);
  }
  SUBCASE("JSON that is not an object") {
    CHECK(refused("application/json", R"(["text"])").status == 400);
    CHECK(refused("application/json", R"("text")").status == 400);
  }
  SUBCASE("invalid UTF-8") {
    CHECK(refused("text/plain", "bad \xff byte").status == 400);
    CHECK(refused("text/plain", "cut \xc3").status == 400);
    CHECK(refused("application/json", "{\"text\":\"bad \xff byte\"}").status == 400);
    CHECK(refused("application/json", "{\"text\":\"ok\",\"name\":\"\xc0\xaf\"}").status == 400);
  }
  SUBCASE("empty text") {
    CHECK(refused("text/plain", "").status == 400);
    CHECK(refused("application/json", R"({"text":""})").status == 400);
  }
  SUBCASE("missing text") {
    const auto result = refused("application/json", R"({"room":"ops"})");
    CHECK(result.status == 400);
    CHECK(result.error.find("text") != std::string::npos);
    CHECK(refused("application/json", "{}").status == 400);
  }
  SUBCASE("unsupported content type -> 415") {
    CHECK(refused("image/png", "hello").status == 415);
    CHECK(refused("multipart/form-data; boundary=x", "hello").status == 415);
    CHECK(refused("application/jsonx", R"({"text":"x"})").status == 415);
  }
}
