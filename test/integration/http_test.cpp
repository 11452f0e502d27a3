// HTTP routes: publish, health, static files, and every refusal with its status.
#include <doctest/doctest.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "test/support/chatd_process.hpp"
#include "test/support/clients.hpp"

using namespace chatd::test;

TEST_CASE("POST /publish answers 202 with the id, from text/plain and JSON bodies") {
  ChatdProcess server("log: { level: warn }\n");
  WsClient subscriber;
  REQUIRE(subscriber.open(server.port(), "/subscribe?room=ops") == 101);

  auto plain = http_post(server.port(), "/publish?room=ops", "deploy done");
  CHECK(plain.status == 202);
  CHECK(plain.body == "{\"id\":2,\"room\":\"ops\"}\n");  // 1 was the subscriber's join
  CHECK(plain.header("content-type") == "application/json");

  auto json = http_post(server.port(), "/publish", R"({"room":"ops","text":"from json","name":"bob"})",
                        "application/json");
  CHECK(json.status == 202);
  CHECK(json.body == "{\"id\":3,\"room\":\"ops\"}\n");

  auto first = subscriber.next();
  REQUIRE(first);
  CHECK(json_string(first->payload, "text") == "deploy done");
  CHECK(json_string(first->payload, "name") == "http");
  auto second = subscriber.next();
  REQUIRE(second);
  CHECK(json_string(second->payload, "text") == "from json");
  CHECK(json_string(second->payload, "name") == "bob");
}

TEST_CASE("publish refusals: 400, 404, 405, 413, 415, 429 with Retry-After") {
  ChatdProcess server(
      "rooms: { dynamic: false, names: [general, ops] }\n"
      "publish: { rate: 1, burst: 3 }\n"
      "limits: { max_message_size: 1KiB }\n"
      "log: { level: warn }\n");
  const auto port = server.port();
  auto error_of = [](const HttpResult& result) { return json_string(result.body, "error"); };

  auto bad_json = http_post(port, "/publish?room=ops", "{\"text\":", "application/json");
  CHECK(bad_json.status == 400);
  CHECK(error_of(bad_json).find("invalid JSON") == 0);
  CHECK(http_post(port, "/publish?room=ops", "").status == 400);
  CHECK(http_post(port, "/publish?room=ops", "bad \xff\xfe utf-8").status == 400);
  CHECK(http_post(port, "/publish?room=ops", R"({"text":""})", "application/json").status == 400);
  CHECK(http_post(port, "/publish?room=ops", R"({"text":5})", "application/json").status == 400);
  CHECK(http_post(port, "/publish?room=nowhere", "hi").status == 404);
  CHECK(http_post(port, "/publish?room=bad%20name", "hi").status == 400);
  CHECK(http_post(port, "/publish?room=ops", std::string(1025, 'x')).status == 413);
  CHECK(http_post(port, "/publish?room=ops", "hi", "image/png").status == 415);
  auto get = http_get(port, "/publish?room=ops");
  CHECK(get.status == 405);
  CHECK(get.header("allow") == "POST");

  // None of the refusals above took a token: the burst of 3 is intact.
  for (int i = 0; i < 3; ++i)
    CHECK(http_post(port, "/publish?room=ops", "ok " + std::to_string(i)).status == 202);
  auto limited = http_post(port, "/publish?room=ops", "one too many");
  CHECK(limited.status == 429);
  CHECK(limited.header("retry-after") == "1");
}

TEST_CASE("bodies over 1 KiB with Expect: 100-continue get their 100 at once") {
  ChatdProcess server("log: { level: warn }\n");
  const std::string body(5000, 'y');
  const int fd = connect_loopback(server.port());
  const std::string head =
      "POST /publish?room=big HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nExpect: 100-continue\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
  REQUIRE(::send(fd, head.data(), head.size(), 0) == static_cast<ssize_t>(head.size()));
  char buffer[256] = {};
  const ssize_t got = ::recv(fd, buffer, sizeof buffer - 1, 0);
  REQUIRE(got > 0);
  CHECK(std::string(buffer, static_cast<std::size_t>(got)) == "HTTP/1.1 100 Continue\r\n\r\n");
  REQUIRE(::send(fd, body.data(), body.size(), 0) == static_cast<ssize_t>(body.size()));
  std::string response;
  ssize_t n;
  while ((n = ::recv(fd, buffer, sizeof buffer, 0)) > 0) response.append(buffer, static_cast<std::size_t>(n));
  ::close(fd);
  CHECK(response.rfind("HTTP/1.1 202 Accepted\r\n", 0) == 0);
}

TEST_CASE("keep-alive and pipelined requests are answered in order on one connection") {
  ChatdProcess server("log: { level: warn }\n");
  const std::string two =
      "POST /publish?room=p HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\none"
      "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  const int fd = connect_loopback(server.port());
  REQUIRE(::send(fd, two.data(), two.size(), 0) == static_cast<ssize_t>(two.size()));
  std::string response;
  char buffer[4096];
  ssize_t n;
  while ((n = ::recv(fd, buffer, sizeof buffer, 0)) > 0) response.append(buffer, static_cast<std::size_t>(n));
  ::close(fd);
  const auto first = response.find("HTTP/1.1 202");
  const auto second = response.find("HTTP/1.1 200");
  CHECK(first == 0);
  REQUIRE(second != std::string::npos);
  CHECK(response.substr(response.size() - 2) == "ok");
}

TEST_CASE("malformed and oversized requests: 400, 431, 501, 505, and the connection closes") {
  ChatdProcess server("limits: { max_header_size: 1KiB }\nlog: { level: warn }\n");
  const auto port = server.port();
  auto bad_line = http_exchange(port, "NONSENSE\r\nHost: x\r\n\r\n");
  CHECK(bad_line.status == 400);
  CHECK(bad_line.header("connection") == "close");
  CHECK(http_exchange(port, "GET / HTTP/1.1\r\n\r\n").status == 400);  // no Host
  CHECK(http_exchange(port, "GET / HTTP/2.0\r\nHost: x\r\n\r\n").status == 505);
  CHECK(http_exchange(
            port,
            "POST /publish HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
            .status == 501);
  CHECK(http_exchange(port, "POST /publish HTTP/1.1\r\nHost: x\r\nContent-Length: 12x\r\n\r\n").status ==
        400);
  const std::string big_header =
      "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(2000, 'a') + "\r\n\r\n";
  CHECK(http_exchange(port, big_header).status == 431);
  // The server is still fine for everyone else.
  CHECK(http_get(port, "/healthz").status == 200);
}

TEST_CASE("GET /healthz, unknown paths, HEAD") {
  ChatdProcess server("log: { level: warn }\n");
  auto health = http_get(server.port(), "/healthz");
  CHECK(health.status == 200);
  CHECK(health.body == "ok");
  CHECK(http_get(server.port(), "/no/such/thing").status == 404);
  auto head = http_exchange(server.port(), "HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  CHECK(head.status == 200);
  CHECK(head.header("content-length") == "2");
  CHECK(head.body.empty());
  CHECK(http_post(server.port(), "/healthz", "x").status == 405);
}

TEST_CASE("asking about a room that never existed is 404, also once rooms.max rooms exist") {
  ChatdProcess server("rooms: { max: 2, names: [general] }\nlog: { level: warn }\n");
  const auto port = server.port();
  CHECK(http_get(port, "/presence?room=never").status == 404);
  REQUIRE(http_post(port, "/publish?room=second", "fills the limit").status == 202);
  CHECK(http_post(port, "/publish?room=third", "over the limit").status == 503);
  for (const char* target : {"/presence?room=never", "/history?room=never"}) {
    const auto answer = http_get(port, target);
    CHECK_MESSAGE(answer.status == 404, target);
    CHECK_MESSAGE(answer.body.find("no room named") != std::string::npos, answer.body);
  }
  CHECK(http_get(port, "/history?room=second").status == 200);
}

TEST_CASE("/history?limit=0 names the whole range of limit") {
  ChatdProcess server("log: { level: warn }\n");
  for (const char* target : {"/history?limit=0", "/history?limit=x", "/history?limit=18446744073709551616"}) {
    const auto answer = http_get(server.port(), target);
    CHECK_MESSAGE(answer.status == 400, target);
    CHECK_MESSAGE(
        answer.body.find("from 1 to 18446744073709551615 (above 1000 counts as 1000)") != std::string::npos,
        answer.body);
  }
}

TEST_CASE("the start-up log names the page's URL, the database and the static folder") {
  const std::string folder = std::filesystem::canonical(make_temp_folder()).string();
  std::filesystem::create_directory(folder + "/static");
  {
    ChatdProcess server("log: { level: info }\n", folder);
    const std::string url = "chat page: http://127.0.0.1:" + std::to_string(server.port()) + "/";
    CHECK_MESSAGE(server.wait_for_log(url + "; static files: " + folder + "/static; history: sqlite " +
                                      folder + "/chat.db"),
                  server.log());
    server.stop();
  }
  {
    ChatdProcess server("history: { store: memory }\nstatic: { root: \"\" }\n", folder);
    CHECK_MESSAGE(server.wait_for_log(
                      "chat page: none (static.root is empty); history: memory only (nothing survives a "
                      "restart)"),
                  server.log());
    server.stop();
  }
  remove_folder(folder);
}

TEST_CASE("static files: content types, index.html, and no way out of the root") {
  namespace fs = std::filesystem;
  const fs::path base = fs::temp_directory_path() / ("chatd-static-" + std::to_string(::getpid()));
  fs::remove_all(base);
  fs::create_directories(base / "www" / "sub");
  std::ofstream(base / "www" / "index.html") << "<h1>home</h1>";
  std::ofstream(base / "www" / "app.js") << "let x = 1;";
  std::ofstream(base / "www" / "sub" / "index.html") << "sub home";
  std::ofstream(base / "secret.txt") << "top secret";
  fs::create_symlink(base / "secret.txt", base / "www" / "leak.txt");
  fs::create_directory_symlink(base, base / "www" / "up");

  ChatdProcess server("static: { root: " + (base / "www").string() + " }\nlog: { level: warn }\n");
  const auto port = server.port();
  auto home = http_get(port, "/");
  CHECK(home.status == 200);
  CHECK(home.body == "<h1>home</h1>");
  CHECK(home.header("content-type") == "text/html; charset=utf-8");
  auto script = http_get(port, "/app.js");
  CHECK(script.status == 200);
  CHECK(script.header("content-type") == "text/javascript; charset=utf-8");
  CHECK(http_get(port, "/sub/").body == "sub home");
  for (const char* escape :
       {"/../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E%2Fsecret.txt", "/sub/..%2f..%2fsecret.txt",
        "/leak.txt", "/up/secret.txt", "/..\\secret.txt", "/%00index.html"}) {
    CAPTURE(escape);
    auto result = http_get(port, escape);
    CHECK(result.status == 404);
    CHECK(result.body.find("top secret") == std::string::npos);
  }
  fs::remove_all(base);
}
