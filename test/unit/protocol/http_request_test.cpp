// The HTTP request reader (protocol/http_request): requests split anywhere, pipelining, header and body
// limits, and the status of every refusal.
#include <doctest/doctest.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "protocol/frame_builder.hpp"
#include "protocol/http_request.hpp"
#include "test/unit/protocol/requests.hpp"

using namespace chatd::protocol;
using namespace chatd::test;

TEST_CASE("HttpRequestReader: a simple GET") {
  const std::string request = "GET /index.html?x=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n";
  Parsed parsed(request);
  CHECK(parsed.used == request.size());
  const auto& reader = parsed.reader;
  REQUIRE(reader.state() == HttpRequestReader::State::complete);
  CHECK(reader.headers_complete());
  CHECK(reader.error_status() == 0);
  CHECK(reader.method() == "GET");
  CHECK(reader.target() == "/index.html?x=1");
  CHECK(reader.version() == "HTTP/1.1");
  CHECK(reader.header("Host") == "example.com");
  CHECK(reader.header("Accept") == "*/*");
  CHECK(reader.header("X-Absent") == "");
  CHECK(reader.body().empty());
  CHECK(reader.keep_alive());
  CHECK_FALSE(reader.expects_continue());
  CHECK_FALSE(reader.is_websocket_upgrade());
}

TEST_CASE("HttpRequestReader: header lookup is case-insensitive") {
  Parsed parsed("GET / HTTP/1.1\r\nHost: h\r\nX-Custom-Thing: Value\r\ncontent-type: text/plain\r\n\r\n");
  REQUIRE(parsed.reader.state() == HttpRequestReader::State::complete);
  CHECK(parsed.reader.header("x-custom-thing") == "Value");
  CHECK(parsed.reader.header("X-CUSTOM-THING") == "Value");
  CHECK(parsed.reader.header("Content-Type") == "text/plain");
  CHECK(parsed.reader.header("HOST") == "h");
}

TEST_CASE("HttpRequestReader: headers fed one byte at a time") {
  const std::string request = "GET /chat HTTP/1.1\r\nHost: example.com\r\nUser-Agent: test\r\n\r\n";
  HttpRequestReader reader(8192, 1024);
  for (std::size_t i = 0; i < request.size(); ++i) {
    REQUIRE_MESSAGE(reader.state() == HttpRequestReader::State::reading_headers, "byte " << i);
    CHECK_MESSAGE(!reader.headers_complete(), "byte " << i);
    REQUIRE_MESSAGE(reader.feed(std::string_view(request).substr(i, 1)) == 1, "byte " << i);
  }
  REQUIRE(reader.state() == HttpRequestReader::State::complete);
  CHECK(reader.target() == "/chat");
  CHECK(reader.header("User-Agent") == "test");
  // A complete request takes no more bytes.
  CHECK(reader.feed("GET") == 0);
}

TEST_CASE("HttpRequestReader: headers split in the middle of the blank line") {
  const std::string request = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
  HttpRequestReader reader(8192, 1024);
  const std::size_t cut = request.size() - 3;  // "...h\r" | "\n\r\n"
  CHECK(reader.feed(std::string_view(request).substr(0, cut)) == cut);
  CHECK(reader.state() == HttpRequestReader::State::reading_headers);
  CHECK(reader.feed(std::string_view(request).substr(cut)) == 3);
  CHECK(reader.state() == HttpRequestReader::State::complete);
}

TEST_CASE("HttpRequestReader: a POST whose body arrives after the headers") {
  const std::string head = "POST /publish HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n";
  HttpRequestReader reader(8192, 1024);
  CHECK(reader.feed(head) == head.size());
  CHECK(reader.state() == HttpRequestReader::State::reading_body);
  CHECK(reader.headers_complete());
  CHECK(reader.method() == "POST");
  CHECK(reader.header("Content-Length") == "11");
  CHECK_FALSE(reader.expects_continue());

  CHECK(reader.feed("hello") == 5);
  CHECK(reader.state() == HttpRequestReader::State::reading_body);
  // The rest of the body, then the start of the next request: only the body is used.
  CHECK(reader.feed(" worldGET / HTTP/1.1\r\n") == 6);
  CHECK(reader.state() == HttpRequestReader::State::complete);
  CHECK(reader.body() == "hello world");
}

TEST_CASE("HttpRequestReader: headers and body in one buffer") {
  const std::string request = "POST /publish HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
  Parsed parsed(request);
  CHECK(parsed.used == request.size());
  REQUIRE(parsed.reader.state() == HttpRequestReader::State::complete);
  CHECK(parsed.reader.body() == "abc");
}

TEST_CASE("HttpRequestReader: Content-Length 0") {
  Parsed parsed("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
  REQUIRE(parsed.reader.state() == HttpRequestReader::State::complete);
  CHECK(parsed.reader.body().empty());
}

TEST_CASE("HttpRequestReader: pipelined requests") {
  const std::string first = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
  const std::string second = "GET /b HTTP/1.1\r\nHost: h\r\n\r\n";
  Parsed parsed(first + second);
  CHECK(parsed.used == first.size());
  REQUIRE(parsed.reader.state() == HttpRequestReader::State::complete);
  CHECK(parsed.reader.target() == "/a");

  Parsed next(second);
  CHECK(next.used == second.size());
  CHECK(next.reader.target() == "/b");

  SUBCASE("a POST then a GET") {
    const std::string post = "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbody";
    Parsed both(post + second);
    CHECK(both.used == post.size());
    CHECK(both.reader.body() == "body");
  }
}

TEST_CASE("HttpRequestReader: frame bytes after a WebSocket handshake are left unused") {
  const std::string handshake = upgrade_request();
  const std::string frame = text_frame("early");  // stands in for the client's first frame
  Parsed parsed(handshake + frame);
  CHECK(parsed.used == handshake.size());
  REQUIRE(parsed.reader.state() == HttpRequestReader::State::complete);
  CHECK(parsed.reader.is_websocket_upgrade());
  CHECK(parsed.reader.body().empty());
}

TEST_CASE("HttpRequestReader: header size limit -> 431") {
  SUBCASE("in one buffer, with the blank line") {
    const std::string request = "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(300, 'a') + "\r\n\r\n";
    Parsed parsed(request, 256);
    CHECK(parsed.reader.state() == HttpRequestReader::State::failed);
    CHECK(parsed.reader.error_status() == 431);
    CHECK(parsed.used == request.size());
  }
  SUBCASE("without ever ending") {
    HttpRequestReader reader(256, 1024);
    reader.feed("GET / HTTP/1.1\r\nHost: h\r\n");
    reader.feed("X-Big: " + std::string(300, 'a'));
    CHECK(reader.state() == HttpRequestReader::State::failed);
    CHECK(reader.error_status() == 431);
    CHECK_FALSE(reader.error_message().empty());
  }
  SUBCASE("byte by byte") {
    const std::string request = "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(300, 'a');
    HttpRequestReader reader(256, 1024);
    for (char c : request) reader.feed(std::string_view(&c, 1));
    CHECK(reader.state() == HttpRequestReader::State::failed);
    CHECK(reader.error_status() == 431);
  }
  SUBCASE("headers just within the limit") {
    // max_header_size counts the request line and headers with their CRLFs, not the final blank line.
    std::string request = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: ";
    request += std::string(64 - request.size() - 2, 'p') + "\r\n";
    REQUIRE(request.size() == 64);
    request += "\r\n";
    Parsed whole(request, 64);
    CHECK(whole.reader.state() == HttpRequestReader::State::complete);
    CHECK(whole.used == request.size());
    // One byte more is too much.
    std::string over = request;
    over.insert(over.find("\r\n\r\n"), "p");
    Parsed too_big(over, 64);
    CHECK(too_big.reader.error_status() == 431);
  }
}

// The outcome of a request must not depend on how TCP happens to cut it.
TEST_CASE("HttpRequestReader: the header limit does not depend on how the bytes are split") {
  std::string request = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: ";
  request += std::string(64 - request.size() - 2, 'p') + "\r\n\r\n";
  REQUIRE(request.size() == 66);  // 64 bytes of headers and the blank line: accepted in one feed

  HttpRequestReader whole(64, 1024);
  whole.feed(request);
  REQUIRE(whole.state() == HttpRequestReader::State::complete);

  HttpRequestReader split(64, 1024);
  split.feed(std::string_view(request).substr(0, 65));  // all but the last '\n'
  split.feed(std::string_view(request).substr(65));
  CHECK(split.state() == HttpRequestReader::State::complete);
  CHECK(split.error_status() == 0);
}

// limits.max_header_size may be configured up to 12KiB (docs/config.md): a head under it must be read, even
// one of the shortest lines HTTP allows, which cost websocketpp's parser the most per byte.
TEST_CASE("HttpRequestReader: a head just under a 12KiB limit, in the shortest possible lines") {
  std::string request = "GET / HTTP/1.1\r\nHost: h\r\n";
  while (request.size() + 4 <= 12288) request += "a:\r\n";  // 4 bytes a line, the value empty
  request += "\r\n";
  REQUIRE(request.size() > 12280);
  Parsed parsed(request, 12288);
  CHECK(parsed.reader.error_status() == 0);
  CHECK(parsed.reader.state() == HttpRequestReader::State::complete);
}

TEST_CASE("HttpRequestReader: malformed requests -> 400") {
  SUBCASE("request line without spaces") {
    Parsed parsed("GARBAGE\r\nHost: h\r\n\r\n");
    CHECK(parsed.reader.state() == HttpRequestReader::State::failed);
    CHECK(parsed.reader.error_status() == 400);
  }
  SUBCASE("request line without a version") {
    Parsed parsed("GET /\r\nHost: h\r\n\r\n");
    CHECK(parsed.reader.state() == HttpRequestReader::State::failed);
    CHECK(parsed.reader.error_status() == 400);
  }
  SUBCASE("missing Host") {
    Parsed parsed("GET / HTTP/1.1\r\nAccept: */*\r\n\r\n");
    CHECK(parsed.reader.state() == HttpRequestReader::State::failed);
    CHECK(parsed.reader.error_status() == 400);
    CHECK_FALSE(parsed.reader.error_message().empty());
  }
  SUBCASE("Content-Length not a number") {
    Parsed parsed("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: abc\r\n\r\n");
    CHECK(parsed.reader.state() == HttpRequestReader::State::failed);
    CHECK(parsed.reader.error_status() == 400);
  }
  SUBCASE("Content-Length with trailing junk") {
    Parsed parsed("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3x\r\n\r\nabc");
    CHECK(parsed.reader.error_status() == 400);
  }
  SUBCASE("negative Content-Length") {
    Parsed parsed("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n");
    CHECK(parsed.reader.state() == HttpRequestReader::State::failed);
    CHECK(parsed.reader.error_status() == 400);
  }
}

TEST_CASE("HttpRequestReader: unsupported HTTP version -> 505") {
  Parsed parsed("GET / HTTP/2.0\r\nHost: h\r\n\r\n");
  CHECK(parsed.reader.state() == HttpRequestReader::State::failed);
  CHECK(parsed.reader.error_status() == 505);
}

TEST_CASE("HttpRequestReader: Transfer-Encoding chunked -> 501") {
  Parsed parsed("POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
  CHECK(parsed.reader.state() == HttpRequestReader::State::failed);
  CHECK(parsed.reader.error_status() == 501);
}

TEST_CASE("HttpRequestReader: body size limit") {
  SUBCASE("over the limit -> 413") {
    Parsed parsed("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 1025\r\n\r\n", 8192, 1024);
    CHECK(parsed.reader.state() == HttpRequestReader::State::failed);
    CHECK(parsed.reader.error_status() == 413);
  }
  SUBCASE("exactly the limit is fine") {
    const std::string body(1024, 'b');
    Parsed parsed("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 1024\r\n\r\n" + body, 8192, 1024);
    REQUIRE(parsed.reader.state() == HttpRequestReader::State::complete);
    CHECK(parsed.reader.body() == body);
  }
}

TEST_CASE("HttpRequestReader: Expect: 100-continue") {
  SUBCASE("waiting for the body") {
    HttpRequestReader reader(8192, 1024);
    reader.feed("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nExpect: 100-Continue\r\n\r\n");
    REQUIRE(reader.state() == HttpRequestReader::State::reading_body);
    CHECK(reader.expects_continue());
    CHECK(reader.feed("ok") == 2);
    CHECK(reader.state() == HttpRequestReader::State::complete);
    CHECK_FALSE(reader.expects_continue());  // the body is here: nothing to wait for
  }
  SUBCASE("body already sent") {
    Parsed parsed("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nok");
    CHECK(parsed.reader.state() == HttpRequestReader::State::complete);
    CHECK_FALSE(parsed.reader.expects_continue());
  }
  SUBCASE("no Expect header") {
    HttpRequestReader reader(8192, 1024);
    reader.feed("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n");
    CHECK_FALSE(reader.expects_continue());
  }
}

TEST_CASE("HttpRequestReader: keep_alive") {
  CHECK(Parsed("GET / HTTP/1.1\r\nHost: h\r\n\r\n").reader.keep_alive());
  CHECK(Parsed("GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n\r\n").reader.keep_alive());
  CHECK_FALSE(Parsed("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").reader.keep_alive());
  CHECK_FALSE(Parsed("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, Close\r\n\r\n").reader.keep_alive());
  CHECK_FALSE(Parsed("GET / HTTP/1.0\r\nHost: h\r\n\r\n").reader.keep_alive());
  CHECK(Parsed("GET / HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n").reader.keep_alive());
  CHECK(Parsed("GET / HTTP/1.0\r\nHost: h\r\nConnection: Keep-Alive\r\n\r\n").reader.keep_alive());
  CHECK_FALSE(Parsed("GET / HTTP/1.0\r\nHost: h\r\nConnection: close\r\n\r\n").reader.keep_alive());
}

TEST_CASE("HttpRequestReader: is_websocket_upgrade") {
  CHECK(Parsed(upgrade_request()).reader.is_websocket_upgrade());
  CHECK(Parsed("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n\r\n")
            .reader.is_websocket_upgrade());
  CHECK_FALSE(
      Parsed("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n").reader.is_websocket_upgrade());
  CHECK_FALSE(
      Parsed("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\n\r\n").reader.is_websocket_upgrade());
  CHECK_FALSE(Parsed("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n")
                  .reader.is_websocket_upgrade());
}
