// The HTTP response writer (protocol/http_response): serialization, error responses and reason phrases.
#include <doctest/doctest.h>

#include <string>

#include "protocol/http_response.hpp"

using namespace chatd::protocol;

TEST_CASE("serialize") {
  SUBCASE("status line, Content-Type, Content-Length, body") {
    HttpResponse response;
    response.body = "hello";
    CHECK(serialize(response) ==
          "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 5\r\n\r\nhello");
  }
  SUBCASE("extra headers and Connection: close") {
    const HttpResponse response{.status = 404,
                                .content_type = "application/json",
                                .body = "{}",
                                .headers = {{"Cache-Control", "no-store"}, {"X-A", "b"}},
                                .close = true};
    CHECK(serialize(response) ==
          "HTTP/1.1 404 Not Found\r\nCache-Control: no-store\r\nX-A: b\r\nContent-Type: application/json\r\n"
          "Content-Length: 2\r\nConnection: close\r\n\r\n{}");
  }
  SUBCASE("head_only keeps Content-Length but omits the body") {
    HttpResponse response;
    response.body = "hello";
    CHECK(serialize(response, true) ==
          "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 5\r\n\r\n");
  }
  SUBCASE("empty body") {
    HttpResponse response;
    response.status = 202;
    response.content_type.clear();
    CHECK(serialize(response) == "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n");
  }
  SUBCASE("101 and 204 carry no Content-Length") {
    HttpResponse response;
    response.status = 101;
    response.content_type.clear();
    response.headers = {{"Upgrade", "websocket"}};
    CHECK(serialize(response) == "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n");
    response.status = 204;
    response.headers.clear();
    CHECK(serialize(response) == "HTTP/1.1 204 No Content\r\n\r\n");
  }
}

TEST_CASE("error_response and reason_phrase") {
  const auto response = error_response(429, "slow \"down\"");
  CHECK(response.status == 429);
  CHECK(response.content_type == "application/json");
  CHECK(response.body == "{\"error\":\"slow \\\"down\\\"\"}\n");
  CHECK(reason_phrase(400) == "Bad Request");
  CHECK(reason_phrase(413) == "Content Too Large");
  CHECK(reason_phrase(426) == "Upgrade Required");
  CHECK(reason_phrase(431) == "Request Header Fields Too Large");
  CHECK(reason_phrase(299) == "Unknown");
}
