// UTF-8 validation and truncation at a character boundary (protocol/utf8).
#include <doctest/doctest.h>

#include <string>

#include "protocol/utf8.hpp"

using namespace chatd::protocol;
using namespace std::string_literals;

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
