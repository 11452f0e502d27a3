// Request targets (protocol/uri): path and query split, percent-decoding, query parameters.
#include <doctest/doctest.h>

#include <string>

#include "protocol/uri.hpp"

using namespace chatd::protocol;

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
