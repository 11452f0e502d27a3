// Client-to-server frames read by protocol/frame_reader: masking, lengths, fragmentation, control frames
// between fragments, size limits and every protocol error with its close code. Frames are built by hand.
#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "protocol/frame_builder.hpp"  // close_code
#include "protocol/frame_reader.hpp"
#include "protocol/utf8.hpp"
#include "test/unit/protocol/frames.hpp"

using namespace chatd::protocol;
using namespace chatd::test;
using namespace std::string_literals;

namespace {

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

}  // namespace

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
    CHECK(parse_close_payload("\x03\xe7").error_code == 1002);
    CHECK_FALSE(parse_close_payload("\x03\xf7").valid);  // 1015 (TLS handshake)
  }
  SUBCASE("invalid UTF-8 reason") {
    const auto close = parse_close_payload("\x03\xe8\xff\xfe");
    CHECK_FALSE(close.valid);
    CHECK(close.code == 1000);
    CHECK(close.error_code == 1007);
  }
}
