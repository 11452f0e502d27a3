// The bodies of protocol/chat_json: byte for byte what docs/api.md shows, with escaping where user text
// goes in.
#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "protocol/chat_json.hpp"

using namespace chatd::protocol;

TEST_CASE("recovered: room, epoch, completeness and the message size limit") {
  CHECK(
      recovered_json("ops", "3f2a9c1d0b7e4a65", true, 65536) ==
      R"({"type":"recovered","room":"ops","epoch":"3f2a9c1d0b7e4a65","complete":true,"max_message_size":65536})");
  CHECK(recovered_json("a\"b", "", false, 0) ==
        R"({"type":"recovered","room":"a\"b","epoch":"","complete":false,"max_message_size":0})");
}

TEST_CASE("history page: events oldest first, next_before a number or null") {
  const std::vector<Event> events = {{7, "ops", "message", "alice", "hi \"all\"", 1000},
                                     {8, "ops", "leave", "alice", "", 2000}};
  CHECK(history_page_json("ops", "e1", events, 7) ==
        R"({"room":"ops","epoch":"e1","events":[{"id":7,"room":"ops","type":"message","name":"alice",)"
        R"("text":"hi \"all\"","ts":1000},{"id":8,"room":"ops","type":"leave","name":"alice","ts":2000}],)"
        R"("next_before":7})"
        "\n");
  CHECK(history_page_json("ops", "e1", {}, std::nullopt) ==
        "{\"room\":\"ops\",\"epoch\":\"e1\",\"events\":[],\"next_before\":null}\n");
}

TEST_CASE("history page bounded in bytes: the newest events that fit, at least one, next_before goes on") {
  const std::string text(100, 'x');
  std::vector<Event> events;
  for (std::uint64_t id = 10; id < 20; ++id) events.push_back({id, "ops", "message", "alice", text, 1000});
  const std::string whole = history_page_json("ops", "e1", events, 9);
  // A bound above the whole page: the same bytes as the unbounded page.
  CHECK(history_page_json("ops", "e1", events, 9, whole.size() + 20) == whole);
  // A bound for about three events: the three newest (17, 18, 19), and the next page starts below 17.
  const std::size_t one_event = (whole.size() - history_page_json("ops", "e1", {}, 9).size()) / events.size();
  const std::size_t bound = history_page_json("ops", "e1", {}, 9).size() + 20 + 3 * one_event + 2;
  const std::string three = history_page_json("ops", "e1", events, 9, bound);
  CHECK(three.size() <= bound);
  CHECK(three.find("\"id\":16,") == std::string::npos);
  CHECK(three.find("{\"id\":17,") != std::string::npos);
  CHECK(three.find("{\"id\":19,") != std::string::npos);
  CHECK(three.ends_with(",\"next_before\":17}\n"));
  // A bound below one event: that one event anyway, so a client always makes progress.
  const std::string one = history_page_json("ops", "e1", events, std::nullopt, 1);
  CHECK(one.find("{\"id\":19,") != std::string::npos);
  CHECK(one.find("\"id\":18,") == std::string::npos);
  CHECK(one.ends_with(",\"next_before\":19}\n"));
  // Everything fits and there is no older page: next_before stays null.
  CHECK(history_page_json("ops", "e1", events, std::nullopt, 1 << 20).ends_with(",\"next_before\":null}\n"));
}

TEST_CASE("presence: users in the order given, with their session counts") {
  const std::vector<PresenceEntry> users = {{"alice", 2}, {"b\\ob", 1}};
  CHECK(presence_json("ops", users) ==
        "{\"room\":\"ops\",\"users\":[{\"name\":\"alice\",\"sessions\":2},{\"name\":\"b\\\\ob\",\"sessions\":"
        "1}]}\n");
  CHECK(presence_json("empty", {}) == "{\"room\":\"empty\",\"users\":[]}\n");
}

TEST_CASE("publish acknowledgement: the id and the room") {
  CHECK(publish_ack_json(18, "ops") == "{\"id\":18,\"room\":\"ops\"}\n");
  CHECK(publish_ack_json(18446744073709551615ull, "r") == "{\"id\":18446744073709551615,\"room\":\"r\"}\n");
}

TEST_CASE("a history page from events already encoded is the page encoding them, bounded the same") {
  const std::vector<Event> events = {{3, "ops", "message", "alice", "one", 10},
                                     {4, "ops", "join", "bob", "", 11},
                                     {5, "ops", "message", "bob", "three \"quoted\"", 12}};
  std::vector<std::string> texts(events.size());
  std::vector<EncodedEvent> encoded;
  for (std::size_t i = 0; i < events.size(); ++i) {
    append_event_json(texts[i], events[i]);
    encoded.push_back(EncodedEvent{events[i].id, texts[i]});
  }
  for (const std::size_t bound : {std::size_t{1}, std::size_t{150}, std::size_t{200}, std::size_t{1} << 20}) {
    CHECK(history_page_json("ops", "e1", encoded, 2, bound) ==
          history_page_json("ops", "e1", events, 2, bound));
  }
  CHECK(history_page_json("ops", "e1", std::span<const EncodedEvent>{}, std::nullopt, 100) ==
        history_page_json("ops", "e1", std::span<const Event>{}, std::nullopt));
}
