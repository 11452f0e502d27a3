// The retained window on its own, with time given: trimming by count and age, history pages, replay.
#include <doctest/doctest.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "server/rooms/retained_events.hpp"

using namespace std::chrono_literals;
using chatd::EventType;
using chatd::RetainedEvents;
using chatd::SharedEvent;
using chatd::StoredEvent;

namespace {

SharedEvent at(std::uint64_t id, std::int64_t ts) {
  return std::make_shared<const StoredEvent>(StoredEvent{id, ts, EventType::message, "n", "t"});
}

chatd::config::History window(std::size_t max_events, chatd::config::Duration max_age = 1000000ms) {
  chatd::config::History settings;
  settings.max_events = max_events;
  settings.max_age = max_age;
  return settings;
}

std::vector<std::uint64_t> ids(RetainedEvents::Slice slice) {
  std::vector<std::uint64_t> found;
  for (auto i = slice.begin; i != slice.end; ++i) found.push_back((*i)->id);
  return found;
}

}  // namespace

TEST_CASE("retained events: bounded by count, the last id kept after its event is gone") {
  const auto settings = window(3);
  RetainedEvents retained(settings, {}, 0);
  CHECK(retained.oldest() == 1);  // nothing retained: the next id
  for (std::uint64_t id = 1; id <= 5; ++id) retained.push(at(id, 100), 100);
  CHECK(retained.events().size() == 3);
  CHECK(retained.oldest() == 3);
  CHECK(retained.last_id() == 5);
}

TEST_CASE("retained events: trimmed by age as of the time given") {
  const auto settings = window(100, 50ms);
  RetainedEvents retained(settings, {at(1, 100), at(2, 120), at(3, 140)}, 3);
  retained.trim(160);  // oldest kept: ts 110
  CHECK(retained.oldest() == 2);
  retained.trim(1000);
  CHECK(retained.events().empty());
  CHECK(retained.oldest() == 4);
  CHECK(retained.last_id() == 3);
}

TEST_CASE("retained events: history pages, newest first page, ids that skip") {
  const auto settings = window(100);
  RetainedEvents retained(settings, {at(1, 1), at(2, 1), at(5, 1), at(6, 1), at(7, 1)}, 7);
  auto page = retained.page(0, 2, 1);
  CHECK(ids(page.events) == std::vector<std::uint64_t>{6, 7});
  REQUIRE(page.next_before.has_value());
  CHECK(*page.next_before == 6);
  page = retained.page(6, 2, 1);
  CHECK(ids(page.events) == std::vector<std::uint64_t>{2, 5});
  CHECK(*page.next_before == 2);
  page = retained.page(2, 2, 1);
  CHECK(ids(page.events) == std::vector<std::uint64_t>{1});
  CHECK(!page.next_before.has_value());
  page = retained.page(4, 10, 1);  // before an id that was skipped
  CHECK(ids(page.events) == std::vector<std::uint64_t>{1, 2});
  CHECK(!page.next_before.has_value());
}

TEST_CASE("retained events: replay gives what follows `since`, complete only when nothing is missing") {
  const auto settings = window(3);
  RetainedEvents retained(settings, {}, 4);
  for (std::uint64_t id = 5; id <= 8; ++id) retained.push(at(id, 1), 1);  // keeps 6, 7, 8
  auto replay = retained.replay(6, 1);
  CHECK(ids(replay.events) == std::vector<std::uint64_t>{7, 8});
  CHECK(replay.complete);
  replay = retained.replay(5, 1);  // 6 is the oldest: nothing after 5 is missing
  CHECK(ids(replay.events) == std::vector<std::uint64_t>{6, 7, 8});
  CHECK(replay.complete);
  replay = retained.replay(4, 1);  // 5 was trimmed
  CHECK(ids(replay.events) == std::vector<std::uint64_t>{6, 7, 8});
  CHECK(!replay.complete);
  replay = retained.replay(8, 1);
  CHECK(replay.events.size() == 0);
  CHECK(replay.complete);
  CHECK(!retained.replay(9, 1).complete);  // never given
}
