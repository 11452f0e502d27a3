// Parsing of the human-friendly units used in chat.yaml: durations ("250ms", "1.5s") and sizes ("64KiB").
// Arithmetic is done on integers so that large values overflow loudly instead of losing precision.
#include <charconv>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace chatd::config {

namespace {

// Enough decimals for any sensible duration or size, and small enough that
// fraction * multiplier cannot overflow 64 bits (10^9 * 2^30 < 2^60).
constexpr int max_fraction_digits = 9;

// A non-negative decimal number: whole + fraction / denominator, e.g. "1.25" = 1 + 25 / 100.
struct Decimal {
  std::uint64_t whole = 0;
  std::uint64_t fraction = 0;
  std::uint64_t denominator = 1;
};

// A number and the unit written after it, e.g. "64 KiB" -> {64, "KiB"}.
struct Quantity {
  Decimal number;
  std::string_view unit;
};

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

std::size_t count_digits(std::string_view text, std::size_t from) {
  std::size_t end = from;
  while (end < text.size() && is_digit(text[end])) ++end;
  return end - from;
}

std::uint64_t parse_digits(std::string_view digits) {
  std::uint64_t value = 0;
  auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (error == std::errc::result_out_of_range) throw std::invalid_argument("number is too large");
  if (error != std::errc{} || end != digits.data() + digits.size())
    throw std::invalid_argument("not a number");
  return value;
}

// Splits "1.5 MiB" into its number and unit. Spaces between the two are allowed.
Quantity split_quantity(std::string_view text) {
  if (text.empty()) throw std::invalid_argument("empty value");
  if (text.front() == '-') throw std::invalid_argument("negative values are not allowed");

  Quantity quantity;
  const std::size_t whole_digits = count_digits(text, 0);
  if (whole_digits == 0) throw std::invalid_argument("does not start with a number");
  quantity.number.whole = parse_digits(text.substr(0, whole_digits));

  std::size_t position = whole_digits;
  if (position < text.size() && text[position] == '.') {
    const std::size_t fraction_digits = count_digits(text, position + 1);
    if (fraction_digits == 0) throw std::invalid_argument("expected digits after the decimal point");
    if (fraction_digits > max_fraction_digits)
      throw std::invalid_argument("too many digits after the decimal point (at most 9)");
    quantity.number.fraction = parse_digits(text.substr(position + 1, fraction_digits));
    for (std::size_t i = 0; i < fraction_digits; ++i) quantity.number.denominator *= 10;
    position += 1 + fraction_digits;
  }

  while (position < text.size() && text[position] == ' ') ++position;
  quantity.unit = text.substr(position);
  return quantity;
}

// whole * multiplier, or throws if that exceeds `limit`.
std::uint64_t scale_whole(std::uint64_t whole, std::uint64_t multiplier, std::uint64_t limit) {
  if (whole > limit / multiplier) throw std::invalid_argument("value is too large");
  return whole * multiplier;
}

std::uint64_t add_checked(std::uint64_t a, std::uint64_t b, std::uint64_t limit) {
  if (b > limit - a) throw std::invalid_argument("value is too large");
  return a + b;
}

std::uint64_t duration_unit_in_ms(std::string_view unit) {
  constexpr std::uint64_t ms_per_second = 1000, ms_per_minute = 60 * ms_per_second,
                          ms_per_hour = 60 * ms_per_minute, ms_per_day = 24 * ms_per_hour;
  if (unit.empty() || unit == "s") return ms_per_second;  // a bare number is seconds
  if (unit == "ms") return 1;
  if (unit == "m") return ms_per_minute;
  if (unit == "h") return ms_per_hour;
  if (unit == "d") return ms_per_day;
  throw std::invalid_argument("unknown unit '" + std::string(unit) + "', use ms, s, m, h or d");
}

std::uint64_t size_unit_in_bytes(std::string_view unit) {
  if (unit.empty() || unit == "B") return 1;
  if (unit == "KiB") return std::uint64_t{1} << 10;
  if (unit == "MiB") return std::uint64_t{1} << 20;
  if (unit == "GiB") return std::uint64_t{1} << 30;
  if (unit == "KB") return std::uint64_t{1000};
  if (unit == "MB") return std::uint64_t{1000} * 1000;
  if (unit == "GB") return std::uint64_t{1000} * 1000 * 1000;
  throw std::invalid_argument("unknown unit '" + std::string(unit) +
                              "', use B, KiB, MiB, GiB (1024-based) or KB, MB, GB (1000-based)");
}

}  // namespace

Duration parse_duration(std::string_view text) {
  const Quantity quantity = split_quantity(text);
  const std::uint64_t multiplier = duration_unit_in_ms(quantity.unit);
  const auto limit = static_cast<std::uint64_t>(std::numeric_limits<Duration::rep>::max());

  const Decimal& number = quantity.number;
  const std::uint64_t whole_ms = scale_whole(number.whole, multiplier, limit);
  // Durations are kept in whole milliseconds: round the fractional part to the nearest one.
  const std::uint64_t fraction_ms =
      (number.fraction * multiplier + number.denominator / 2) / number.denominator;
  return Duration(static_cast<Duration::rep>(add_checked(whole_ms, fraction_ms, limit)));
}

std::size_t parse_size(std::string_view text) {
  const Quantity quantity = split_quantity(text);
  const std::uint64_t multiplier = size_unit_in_bytes(quantity.unit);
  const auto limit = static_cast<std::uint64_t>(std::numeric_limits<std::size_t>::max());

  const Decimal& number = quantity.number;
  const std::uint64_t fraction_scaled = number.fraction * multiplier;
  // "1.5KiB" is 1536 bytes, but "0.5B" is not a size at all.
  if (fraction_scaled % number.denominator != 0) throw std::invalid_argument("not a whole number of bytes");
  const std::uint64_t whole_bytes = scale_whole(number.whole, multiplier, limit);
  return static_cast<std::size_t>(add_checked(whole_bytes, fraction_scaled / number.denominator, limit));
}

}  // namespace chatd::config
