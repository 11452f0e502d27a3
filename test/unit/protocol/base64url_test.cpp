// Strict base64url (protocol/base64url): RFC 4648 vectors in the URL alphabet, round trips of every length,
// and each text that must not decode.
#include <doctest/doctest.h>

#include <random>
#include <string>

#include "protocol/base64url.hpp"

using chatd::protocol::base64url_decode;
using chatd::protocol::base64url_encode;

TEST_CASE("base64url: RFC 4648 section 10 vectors, unpadded") {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},          {"foo", "Zm9v"},
      {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [bytes, text] : vectors) {
    CAPTURE(bytes);
    CHECK(base64url_encode(bytes) == text);
    CHECK(base64url_decode(text) == std::string(bytes));
  }
  // The two characters where the URL alphabet differs from the standard one: 62 is '-', 63 is '_'
  // (standard "+/", RFC 4648 section 5).
  CHECK(base64url_encode("\xfb\xff") == "-_8");
  CHECK(base64url_decode("-_8") == std::string("\xfb\xff"));
  CHECK(base64url_encode("\xff\xff\xff") == "____");
  CHECK(base64url_encode(std::string("\0\0\0", 3)) == "AAAA");
}

TEST_CASE("base64url: every length 0..64 of random bytes round-trips") {
  std::mt19937 random(11);
  for (std::size_t length = 0; length <= 64; ++length) {
    for (int trial = 0; trial < 20; ++trial) {
      std::string bytes(length, '\0');
      for (auto& c : bytes) c = static_cast<char>(random() & 0xff);
      const std::string text = base64url_encode(bytes);
      CAPTURE(length);
      CHECK(text.size() == (length * 4 + 2) / 3);  // no padding
      CHECK(text.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
            std::string::npos);
      const auto back = base64url_decode(text);
      REQUIRE(back.has_value());
      CHECK(*back == bytes);
    }
  }
}

TEST_CASE("base64url: non-canonical and foreign text is refused") {
  // Padding, as the standard encoding writes it.
  CHECK_FALSE(base64url_decode("Zg==").has_value());
  CHECK_FALSE(base64url_decode("Zm8=").has_value());
  CHECK_FALSE(base64url_decode("Zg=").has_value());
  CHECK_FALSE(base64url_decode("=").has_value());
  // Whitespace anywhere (EVP_DecodeBlock would skip it).
  CHECK_FALSE(base64url_decode("Zm9v YmFy").has_value());
  CHECK_FALSE(base64url_decode(" Zm9v").has_value());
  CHECK_FALSE(base64url_decode("Zm9v\n").has_value());
  CHECK_FALSE(base64url_decode("Zm9v\r\nYmFy").has_value());
  CHECK_FALSE(base64url_decode("Zm9v\tYg").has_value());
  // The standard alphabet's 62 and 63.
  CHECK(base64url_decode("-_8").has_value());
  CHECK_FALSE(base64url_decode("+_8").has_value());
  CHECK_FALSE(base64url_decode("-/8").has_value());
  CHECK_FALSE(base64url_decode("ab+c").has_value());
  // One character left over carries 6 bits: less than a byte.
  CHECK_FALSE(base64url_decode("Z").has_value());
  CHECK_FALSE(base64url_decode("Zm9vY").has_value());
  CHECK_FALSE(base64url_decode("Zm9vYmFyZ").has_value());
  // Unused low bits not zero: "QQ" is the one spelling of "A"; "QR" to "QZ" would also decode to it.
  CHECK(base64url_decode("QQ") == std::string("A"));
  for (const char last : std::string("RSTUVWXYZabcdef")) {
    CAPTURE(last);
    CHECK_FALSE(base64url_decode(std::string("Q") + last).has_value());
  }
  // Two bytes: the last of three characters has 2 unused bits. "QUI" is "AB"; "QUJ".."QUL" are not.
  CHECK(base64url_decode("QUI") == std::string("AB"));
  CHECK_FALSE(base64url_decode("QUJ").has_value());
  CHECK_FALSE(base64url_decode("QUK").has_value());
  CHECK_FALSE(base64url_decode("QUL").has_value());
  // Non-ASCII bytes, NUL, and other punctuation.
  CHECK_FALSE(base64url_decode("Zm9v\xc3\xa9").has_value());
  CHECK_FALSE(base64url_decode("Zm\x80v").has_value());
  CHECK_FALSE(base64url_decode(std::string("Zm\0v", 4)).has_value());
  CHECK_FALSE(base64url_decode("Zm.v").has_value());
  CHECK_FALSE(base64url_decode("Zm9v~").has_value());
}

TEST_CASE("base64url: every byte value outside the alphabet is refused in every position") {
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  for (int byte = 0; byte < 256; ++byte) {
    const char c = static_cast<char>(byte);
    const bool valid = alphabet.find(c) != std::string::npos;
    for (std::size_t position = 0; position < 4; ++position) {
      std::string text = "AAAA";
      text[position] = c;
      CAPTURE(byte);
      CAPTURE(position);
      CHECK(base64url_decode(text).has_value() == valid);
    }
  }
}
