// Unit tests of the unit parsers (config/units.cpp): the durations and sizes config values are written in.
#include <doctest/doctest.h>

#include <chrono>
#include <stdexcept>

#include "config/config.hpp"

using namespace chatd::config;
using namespace std::chrono_literals;

// ---------------------------------------------------------------------------------------------------------
// Durations

TEST_CASE("durations in every unit") {
  CHECK(parse_duration("250ms") == 250ms);
  CHECK(parse_duration("5s") == 5s);
  CHECK(parse_duration("2m") == 2min);
  CHECK(parse_duration("1h") == 1h);
  CHECK(parse_duration("30d") == 30 * 24h);
  CHECK(parse_duration("0s") == 0ms);
  CHECK(parse_duration("0") == 0ms);
}

TEST_CASE("a bare number of seconds is a duration") {
  CHECK(parse_duration("10") == 10s);
  CHECK(parse_duration("0.25") == 250ms);
  CHECK(parse_duration("007") == 7s);
}

TEST_CASE("durations with decimals are rounded to the nearest millisecond") {
  CHECK(parse_duration("1.5s") == 1500ms);
  CHECK(parse_duration("0.5m") == 30s);
  CHECK(parse_duration("1.25h") == 75min);
  CHECK(parse_duration("0.0004s") == 0ms);
  CHECK(parse_duration("0.0005s") == 1ms);
  CHECK(parse_duration("1.5ms") == 2ms);
  CHECK(parse_duration("1.123456789s") == 1123ms);
}

TEST_CASE("a space between number and unit is allowed") {
  CHECK(parse_duration("5 s") == 5s);
}

TEST_CASE("the largest duration is accepted and one more overflows") {
  // The largest number of milliseconds in Duration is 9223372036854775807.
  CHECK(parse_duration("9223372036854775807ms").count() == 9223372036854775807);
  CHECK_THROWS_AS(parse_duration("9223372036854775808ms"), std::invalid_argument);
  CHECK(parse_duration("106751991167d") == 106751991167 * 24h);
  CHECK_THROWS_WITH_AS(parse_duration("106751991168d"), "value is too large", std::invalid_argument);
  CHECK_THROWS_WITH_AS(parse_duration("99999999999999999999s"), "number is too large", std::invalid_argument);
}

TEST_CASE("garbage durations are rejected") {
  CHECK_THROWS_WITH_AS(parse_duration(""), "empty value", std::invalid_argument);
  CHECK_THROWS_WITH_AS(parse_duration("-5s"), "negative values are not allowed", std::invalid_argument);
  CHECK_THROWS_WITH_AS(parse_duration("s"), "does not start with a number", std::invalid_argument);
  CHECK_THROWS_WITH_AS(parse_duration("5x"), "unknown unit 'x', use ms, s, m, h or d", std::invalid_argument);
  CHECK_THROWS_WITH_AS(parse_duration("5.s"), "expected digits after the decimal point",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(parse_duration("1.0000000001s"), "too many digits after the decimal point (at most 9)",
                       std::invalid_argument);
  CHECK_THROWS_AS(parse_duration(".5s"), std::invalid_argument);
  CHECK_THROWS_AS(parse_duration("+5s"), std::invalid_argument);
  CHECK_THROWS_AS(parse_duration(" 5s"), std::invalid_argument);
  CHECK_THROWS_AS(parse_duration("5s "), std::invalid_argument);
  CHECK_THROWS_AS(parse_duration("5s5"), std::invalid_argument);
  CHECK_THROWS_AS(parse_duration("1m30s"), std::invalid_argument);
  CHECK_THROWS_AS(parse_duration("1e3"), std::invalid_argument);
  CHECK_THROWS_AS(parse_duration("5S"), std::invalid_argument);
  CHECK_THROWS_AS(parse_duration("5sec"), std::invalid_argument);
  CHECK_THROWS_AS(parse_duration("1,5s"), std::invalid_argument);
}

// ---------------------------------------------------------------------------------------------------------
// Sizes

TEST_CASE("sizes in every unit") {
  CHECK(parse_size("65536") == 65536);
  CHECK(parse_size("0") == 0);
  CHECK(parse_size("512B") == 512);
  CHECK(parse_size("64KiB") == 65536);
  CHECK(parse_size("1MiB") == 1048576);
  CHECK(parse_size("1GiB") == 1073741824);
  CHECK(parse_size("64KB") == 64000);
  CHECK(parse_size("1MB") == 1000000);
  CHECK(parse_size("2GB") == 2000000000);
  CHECK(parse_size("8 KiB") == 8192);
}

TEST_CASE("sizes with decimals must come to whole bytes") {
  CHECK(parse_size("1.5KiB") == 1536);
  CHECK(parse_size("0.5MB") == 500000);
  CHECK(parse_size("2.0B") == 2);
  CHECK_THROWS_WITH_AS(parse_size("1.5B"), "not a whole number of bytes", std::invalid_argument);
  CHECK_THROWS_WITH_AS(parse_size("1.1KiB"), "not a whole number of bytes", std::invalid_argument);
}

TEST_CASE("the largest size is accepted and one more overflows") {
  CHECK(parse_size("18446744073709551615") == 18446744073709551615u);
  CHECK_THROWS_WITH_AS(parse_size("18446744073709551616"), "number is too large", std::invalid_argument);
  CHECK(parse_size("17179869183GiB") == 17179869183ull << 30);
  CHECK_THROWS_WITH_AS(parse_size("17179869184GiB"), "value is too large", std::invalid_argument);
  CHECK_THROWS_WITH_AS(parse_size("18446744073709551615.5KB"), "value is too large", std::invalid_argument);
}

TEST_CASE("garbage sizes are rejected") {
  CHECK_THROWS_WITH_AS(parse_size(""), "empty value", std::invalid_argument);
  CHECK_THROWS_WITH_AS(parse_size("-1"), "negative values are not allowed", std::invalid_argument);
  CHECK_THROWS_WITH_AS(parse_size("KiB"), "does not start with a number", std::invalid_argument);
  CHECK_THROWS_WITH_AS(parse_size("1kib"),
                       "unknown unit 'kib', use B, KiB, MiB, GiB (1024-based) or KB, MB, GB (1000-based)",
                       std::invalid_argument);
  CHECK_THROWS_AS(parse_size("1K"), std::invalid_argument);
  CHECK_THROWS_AS(parse_size("1TiB"), std::invalid_argument);
  CHECK_THROWS_AS(parse_size("1e6"), std::invalid_argument);
  CHECK_THROWS_AS(parse_size("0x10"), std::invalid_argument);
  CHECK_THROWS_AS(parse_size("64 KiB x"), std::invalid_argument);
  CHECK_THROWS_AS(parse_size("1_000"), std::invalid_argument);
}
