// The Server-Sent Events wire format (protocol/event_stream): events, comments, ids, Last-Event-ID and the
// stream's head, as a reader following the HTML standard's parsing rules (9.2.5, 9.2.6) would see them.
#include <doctest/doctest.h>

#include <string>

#include "protocol/event_stream.hpp"

using namespace chatd::protocol;

TEST_CASE("sse_event") {
  SUBCASE("id, event name, one data line, and the blank line that dispatches it") {
    CHECK(sse_event("0123456789abcdef:7", "message", R"({"id":7})") ==
          "id: 0123456789abcdef:7\nevent: message\ndata: {\"id\":7}\n\n");
  }
  SUBCASE("an empty id writes no id line, so the reader's last event id stays") {
    CHECK(sse_event("", "recovered", "{}") == "event: recovered\ndata: {}\n\n");
  }
  SUBCASE("each of the reader's three line ends starts a new data line") {
    CHECK(sse_event("e:1", "message", "a\nb\r\nc\rd") ==
          "id: e:1\nevent: message\ndata: a\ndata: b\ndata: c\ndata: d\n\n");
  }
  SUBCASE("CR LF is one line end, LF CR two") {
    CHECK(sse_event("", "m", "a\r\nb") == "event: m\ndata: a\ndata: b\n\n");
    CHECK(sse_event("", "m", "a\n\rb") == "event: m\ndata: a\ndata: \ndata: b\n\n");
  }
  SUBCASE("empty data and a trailing line end keep their empty lines") {
    CHECK(sse_event("", "m", "") == "event: m\ndata: \n\n");
    CHECK(sse_event("", "m", "a\n") == "event: m\ndata: a\ndata: \n\n");
  }
}

TEST_CASE("sse_comment is a line the reader ignores, ending the block") {
  CHECK(sse_comment("keepalive") == ": keepalive\n\n");
}

TEST_CASE("event ids round-trip through Last-Event-ID") {
  const std::string id = sse_event_id("00ff00ff00ff00ff", 18446744073709551615ull);
  CHECK(id == "00ff00ff00ff00ff:18446744073709551615");
  const auto parsed = parse_last_event_id(id);
  REQUIRE(parsed);
  CHECK(parsed->epoch == "00ff00ff00ff00ff");
  CHECK(parsed->id == 18446744073709551615ull);

  SUBCASE("an empty epoch, as a room without one writes it") {
    const auto empty_epoch = parse_last_event_id(":12");
    REQUIRE(empty_epoch);
    CHECK(empty_epoch->epoch.empty());
    CHECK(empty_epoch->id == 12);
  }
  SUBCASE("anything else is refused, two headers joined into one value among it") {
    for (const char* bad : {"", "12", "e:", "e:-1", "e:+1", "e:1x", "e: 1", "e:18446744073709551616",
                            "e:000000000000000000001", "a:b:3", "a, b:1", "e :1", "ep\xc3\xa9:1"}) {
      CAPTURE(bad);
      CHECK_FALSE(parse_last_event_id(bad));
    }
  }
}

TEST_CASE("sse_close_json carries a close code and a JSON-escaped reason") {
  CHECK(sse_close_json(4004, "removed by an operator") ==
        R"({"type":"close","code":4004,"reason":"removed by an operator"})");
  CHECK(sse_close_json(1001, "say \"bye\"") == R"({"type":"close","code":1001,"reason":"say \"bye\""})");
}

TEST_CASE("sse_response_head") {
  const std::string plain =
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
      "X-Accel-Buffering: no\r\nConnection: close\r\n";
  SUBCASE("no Content-Length: the body ends with the connection") {
    CHECK(sse_response_head("") == plain + "\r\n");
  }
  SUBCASE("a listed origin may read it, and caches keep answers per Origin") {
    CHECK(sse_response_head("https://chat.example") ==
          plain + "Access-Control-Allow-Origin: https://chat.example\r\nVary: Origin\r\n\r\n");
  }
  SUBCASE("a wildcard needs no Vary") {
    CHECK(sse_response_head("*") == plain + "Access-Control-Allow-Origin: *\r\n\r\n");
  }
}
