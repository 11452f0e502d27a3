// Server-to-client frames (protocol/frame_builder): header bytes for every payload length, control frames,
// the close payload. No sockets: every byte is checked by hand.
#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/frame_builder.hpp"
#include "protocol/frame_reader.hpp"
#include "protocol/utf8.hpp"
#include "test/unit/protocol/frames.hpp"

using namespace chatd::protocol;
using namespace chatd::test;
using namespace std::string_literals;

namespace {

// The first `n` bytes of a frame built by frame_builder, as unsigned values.
Bytes head_of(const std::string& frame, std::size_t n) {
  REQUIRE(frame.size() >= n);
  return Bytes(frame.begin(), frame.begin() + static_cast<std::ptrdiff_t>(n));
}

std::string repeat(std::string_view unit, std::size_t times) {
  std::string out;
  for (std::size_t i = 0; i < times; ++i) out += unit;
  return out;
}

}  // namespace

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

TEST_CASE("frame_payload gives back the payload of every header size (RFC 6455 5.2)") {
  for (const std::size_t size : {0u, 1u, 125u, 126u, 65535u, 65536u, 70000u}) {
    const std::string payload(size, 'p');
    CHECK(frame_payload(text_frame(payload)) == payload);
  }
  CHECK(frame_payload("") == "");
  CHECK(frame_payload(std::string("\x81\x7e\x01", 3)) == "");  // a header cut short has no payload
}
