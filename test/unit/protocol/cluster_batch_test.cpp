// The cluster's pub/sub batch (protocol/cluster_batch): the bytes of the header's format, round trips with
// names and texts of any bytes, and every payload that must be refused, each as the smallest change to a
// good one.
#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "protocol/cluster_batch.hpp"

using namespace chatd::protocol;
using namespace std::string_literals;

namespace {

ClusterEvent event(std::int64_t ts, std::uint8_t type, std::string name, std::string text) {
  ClusterEvent e;
  e.ts = ts;
  e.type = type;
  e.name = std::move(name);
  e.text = std::move(text);
  return e;
}

bool same(const ClusterBatch& a, const ClusterBatch& b) {
  if (a.epoch != b.epoch || a.first_id != b.first_id || a.events.size() != b.events.size()) return false;
  for (std::size_t i = 0; i < a.events.size(); ++i) {
    const auto& x = a.events[i];
    const auto& y = b.events[i];
    if (x.ts != y.ts || x.type != y.type || x.name != y.name || x.text != y.text) return false;
  }
  return true;
}

// A good two-event payload: the refusals below each change one thing in it.
const std::string good = "B ep0ch 41 2\n1700000000000 0 5 2\nalicehi1700000000001 2 3 0\nbob";

std::string replaced(std::string_view from, std::string_view to) {
  std::string payload = good;
  const auto at = payload.find(from);
  REQUIRE(at != std::string::npos);
  payload.replace(at, from.size(), to);
  return payload;
}

}  // namespace

TEST_CASE("cluster batch: the header's format, byte for byte") {
  ClusterBatch batch;
  batch.epoch = "ep0ch";
  batch.first_id = 41;
  batch.events = {event(1700000000000, 0, "alice", "hi"), event(1700000000001, 2, "bob", "")};
  CHECK(format_cluster_batch(batch) == good);
  const auto parsed = parse_cluster_batch(good);
  REQUIRE(parsed.has_value());
  CHECK(same(*parsed, batch));
  CHECK(parsed->events[1].type == 2);
  CHECK(parsed->events[1].text.empty());
}

TEST_CASE("cluster batch: names and texts with newlines, spaces, NULs and digits round-trip") {
  ClusterBatch batch;
  batch.epoch = "x\0\r\t\xff"s;  // anything but a space or a newline
  batch.first_id = 1;
  batch.events = {
      event(0, 1, "a b\n", "B 1 1 1\n0 0 0 0\n"),  // a text that looks like a batch
      event(-1, 0, "\0"s, "\0\0\r\n"s),
      event(std::numeric_limits<std::int64_t>::min(), 2, "", ""),
      event(std::numeric_limits<std::int64_t>::max(), 0, "12 34", std::string(1000, '\n')),
      event(5, 0, "", "3 0\n"),
  };
  const std::string bytes = format_cluster_batch(batch);
  const auto parsed = parse_cluster_batch(bytes);
  REQUIRE(parsed.has_value());
  CHECK(same(*parsed, batch));
  CHECK(format_cluster_batch(*parsed) == bytes);
}

TEST_CASE("cluster batch: the largest ids and an empty batch") {
  ClusterBatch last;
  last.epoch = "e";
  last.first_id = std::numeric_limits<std::uint64_t>::max() - 1;  // ids max-1 and max
  last.events = {event(1, 0, "a", "b"), event(2, 0, "c", "d")};
  const auto parsed = parse_cluster_batch(format_cluster_batch(last));
  REQUIRE(parsed.has_value());
  CHECK(same(*parsed, last));

  const auto empty = parse_cluster_batch("B e 7 0\n");
  REQUIRE(empty.has_value());
  CHECK(empty->first_id == 7);
  CHECK(empty->events.empty());
}

TEST_CASE("cluster batch: every refusal") {
  REQUIRE(parse_cluster_batch(good).has_value());
  const std::string refused[] = {
      "",
      "B",
      "B ",
      good.substr(0, good.size() - 1),  // the last text one byte short
      good + "x",                       // trailing bytes
      good + "\n",
      // the header
      replaced("B ", "b "),
      replaced("B ", "B  "),  // empty epoch
      replaced("B ", "C "),
      replaced("B ep0ch", " ep0ch"),
      replaced("ep0ch", "ep\n0ch"),  // a newline in the epoch
      replaced("ep0ch", ""),
      replaced(" 41 ", " 0 "),  // first_id 0
      replaced(" 41 ", " 041 "),
      replaced(" 41 ", " +41 "),
      replaced(" 41 ", " -41 "),
      replaced(" 41 ", "  41 "),
      replaced(" 41 ", " 4x1 "),
      replaced(" 41 ", " 18446744073709551616 "),  // 2^64
      replaced(" 41 2\n", " 41 2 \n"),
      replaced(" 41 2\n", " 41 2\r\n"),
      replaced(" 41 2\n", " 41 02\n"),
      replaced(" 41 2\n", " 41\n"),
      replaced(" 41 2\n", " 41 1\n"),  // count below the events there are
      replaced(" 41 2\n", " 41 3\n"),  // count above
      replaced(" 41 2\n", " 41 -2\n"),
      // an event's line
      replaced("1700000000000 0", "01700000000000 0"),
      replaced("1700000000000 0", "+1700000000000 0"),
      replaced("1700000000000 0", "-0 0"),
      replaced("1700000000000 0", "9223372036854775808 0"),  // past int64
      replaced("1700000000000 0", " 0"),
      replaced("1700000000000 0", "17e11 0"),
      replaced(" 0 5 2\n", " 3 5 2\n"),  // type above 2
      replaced(" 0 5 2\n", " 256 5 2\n"),
      replaced(" 0 5 2\n", " 00 5 2\n"),
      replaced(" 0 5 2\n", " -1 5 2\n"),
      replaced(" 0 5 2\n", "  5 2\n"),
      replaced(" 0 5 2\n", " 0 4 2\n"),  // lengths that do not cut at the next event
      replaced(" 0 5 2\n", " 0 5 1\n"),
      replaced(" 0 5 2\n", " 0 05 2\n"),
      replaced(" 0 5 2\n", " 0 5 2 \n"),
      replaced(" 0 5 2\n", " 0 5\n"),
      replaced(" 0 5 2\n", " 0 5 2 1\n"),
      replaced(" 0 5 2\n", " 0 5 -2\n"),
      replaced(" 2 3 0\nbob", " 2 3 1\nbob"),  // a length past the end
      replaced(" 2 3 0\nbob", " 2 4 0\nbob"),
      replaced(" 2 3 0\nbob", " 2 3 18446744073709551615\nbob"),
      replaced(" 2 3 0\nbob", " 2 18446744073709551615 0\nbob"),
      replaced(" 2 3 0\nbob", " 2 3 0bob"),  // no newline
      replaced(" 2 3 0\nbob", " 2 3 0\n"),
      // ids past 2^64 - 1: the second event would have none
      replaced(" 41 ", " 18446744073709551615 "),
  };
  for (const std::string& payload : refused) {
    CAPTURE(payload);
    CHECK_FALSE(parse_cluster_batch(payload).has_value());
  }
  CHECK(parse_cluster_batch(replaced(" 41 ", " 18446744073709551614 ")).has_value());
}

TEST_CASE("cluster batch: a count far beyond the payload is refused at once") {
  // A claimed billion events in a few bytes: refused by size, before anything is reserved for them.
  CHECK_FALSE(parse_cluster_batch("B e 1 1000000000\n0 0 0 0\n").has_value());
  CHECK_FALSE(parse_cluster_batch("B e 1 18446744073709551615\n").has_value());
  // Exactly as many of the smallest events as fit is fine.
  std::string tight = "B e 1 3\n";
  for (int i = 0; i < 3; ++i) tight += "0 0 0 0\n";
  const auto parsed = parse_cluster_batch(tight);
  REQUIRE(parsed.has_value());
  CHECK(parsed->events.size() == 3);
  CHECK_FALSE(parse_cluster_batch("B e 1 4\n0 0 0 0\n0 0 0 0\n0 0 0 0\n").has_value());
}
