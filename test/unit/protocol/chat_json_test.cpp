// The bodies of protocol/chat_json: byte for byte what docs/api.md shows, with escaping where user text
// goes in.
#include <doctest/doctest.h>

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
