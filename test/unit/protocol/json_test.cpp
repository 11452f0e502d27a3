// JSON output (protocol/json): string escaping, events and error bodies.
#include <doctest/doctest.h>

#include <string>

#include "protocol/json.hpp"

using namespace chatd::protocol;
using namespace std::string_literals;

TEST_CASE("append_json_string") {
  auto json = [](std::string_view text) {
    std::string out = "<";
    append_json_string(out, text);
    return out;
  };
  CHECK(json("") == "<\"\"");
  CHECK(json("plain text") == "<\"plain text\"");
  CHECK(json("say \"hi\"") == "<\"say \\\"hi\\\"\"");
  CHECK(json("back\\slash") == "<\"back\\\\slash\"");
  CHECK(json("a\nb\rc\td\be\ff") == "<\"a\\nb\\rc\\td\\be\\ff\"");
  CHECK(json("\x01\x1f"s) == "<\"\\u0001\\u001f\"");
  CHECK(json("nul\0byte"s) == "<\"nul\\u0000byte\"");
  CHECK(json("\x0b") == "<\"\\u000b\"");
  CHECK(json("del\x7f") == "<\"del\x7f\"");
  CHECK(json("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80") ==
        "<\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
  CHECK(json("/") == "<\"/\"");
}

TEST_CASE("append_event_json") {
  Event event;
  event.id = 17;
  event.room = "ops";
  event.type = "message";
  event.name = "alice";
  event.text = "deploy \"done\"\n";
  event.ts = 1763800000123;
  std::string out = "data: ";
  append_event_json(out, event);
  CHECK(out ==
        "data: {\"id\":17,\"room\":\"ops\",\"type\":\"message\",\"name\":\"alice\","
        "\"text\":\"deploy \\\"done\\\"\\n\",\"ts\":1763800000123}");

  Event extremes;
  extremes.type = "message";
  extremes.id = 18446744073709551615ull;
  extremes.ts = -5;
  std::string out2;
  append_event_json(out2, extremes);
  CHECK(out2 ==
        "{\"id\":18446744073709551615,\"room\":\"\",\"type\":\"message\",\"name\":\"\",\"text\":\"\",\"ts\":-"
        "5}");

  // join and leave carry no text.
  Event leave{18, "ops", "leave", "alice", "ignored", 1763800000456};
  std::string out3;
  append_event_json(out3, leave);
  CHECK(out3 == "{\"id\":18,\"room\":\"ops\",\"type\":\"leave\",\"name\":\"alice\",\"ts\":1763800000456}");
}

TEST_CASE("error_json") {
  CHECK(error_json("room not found") == "{\"error\":\"room not found\"}");
  CHECK(error_json("bad \"x\"\t") == "{\"error\":\"bad \\\"x\\\"\\t\"}");
}
