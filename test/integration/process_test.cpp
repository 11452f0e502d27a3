// The process: command line, config errors, shutdown on SIGTERM/SIGINT.
#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <thread>

#include "test/support/chatd_process.hpp"
#include "test/support/clients.hpp"

using namespace chatd::test;

TEST_CASE("SIGTERM closes every WebSocket with 1001 and exits 0 within 2 s") {
  ChatdProcess server("log: { level: info }\n");
  std::vector<WsClient> clients(20);
  for (std::size_t i = 0; i < clients.size(); ++i) {
    REQUIRE(clients[i].open(server.port(), "/subscribe?room=r" + std::to_string(i % 3)) == 101);
  }
  // An idle keep-alive HTTP connection must not hold the exit up either.
  const int idle_http = connect_loopback(server.port());
  const auto start = std::chrono::steady_clock::now();
  kill(server.pid(), SIGTERM);
  for (auto& client : clients) {
    CHECK(client.wait_close(2s) == 1001);
    client.send_close(1001);  // a polite client answers
  }
  CHECK(server.stop(SIGTERM, 3s) == 0);
  CHECK(std::chrono::steady_clock::now() - start < 2s);
  ::close(idle_http);
  CHECK(server.log().find("received SIGTERM") != std::string::npos);
}

TEST_CASE("SIGINT also shuts down cleanly, even when clients never answer the close") {
  ChatdProcess server("log: { level: warn }\n");
  WsClient rude;
  REQUIRE(rude.open(server.port(), "/subscribe") == 101);
  const auto start = std::chrono::steady_clock::now();
  CHECK(server.stop(SIGINT, 3s) == 0);
  CHECK(std::chrono::steady_clock::now() - start < 2s);
  CHECK(rude.wait_close(1s) == 1001);
}

TEST_CASE("--check-config says ok, or names file, key, line and column and exits 2") {
  std::string output;
  // In /tmp, which has no static folder: static.root "" serves no files.
  const std::string good =
      write_temp_file("listen: { port: 9999 }\nsubscriber:\n  queue: 32\nstatic: { root: \"\" }\n");
  CHECK(ChatdProcess::run_command("--check-config --config " + good, output) == 0);
  CHECK(output == "ok\n");

  const std::string bad = write_temp_file("listen: { port: 9999 }\nsubscriber:\n  queue: lots\n");
  CHECK(ChatdProcess::run_command("--check-config --config " + bad, output) == 2);
  CHECK(output.find(bad + ":3:10: subscriber.queue:") == 0);

  const std::string unknown = write_temp_file("subscriber:\n  queu: 5\n");
  CHECK(ChatdProcess::run_command("--config " + unknown, output) == 2);  // start-up refuses too
  CHECK(output.find(unknown + ":2:3: subscriber.queu: unknown key") == 0);

  CHECK(ChatdProcess::run_command("--config /nonexistent/chat.yaml", output) == 2);
  CHECK(output.find("/nonexistent/chat.yaml") != std::string::npos);
}

TEST_CASE("--help, --version, unknown arguments, and a port already taken") {
  std::string output;
  CHECK(ChatdProcess::run_command("--help", output) == 0);
  CHECK(output.find("--check-config") != std::string::npos);
  CHECK(ChatdProcess::run_command("--version", output) == 0);
  CHECK(output.rfind("chatd ", 0) == 0);
  CHECK(ChatdProcess::run_command("--frobnicate", output) == 2);

  ChatdProcess first("log: { level: warn }\n");
  const std::string taken =
      write_temp_file("listen: { port: " + std::to_string(first.port()) + " }\nstatic: { root: \"\" }\n");
  CHECK(ChatdProcess::run_command("--config " + taken, output) == 1);
  CHECK(output.find("cannot listen on") != std::string::npos);
}

TEST_CASE("--config without a FILE says so and exits 2") {
  std::string output;
  CHECK(ChatdProcess::run_command("--config", output) == 2);
  CHECK(output.rfind("chatd: --config needs a FILE\n", 0) == 0);
  CHECK(ChatdProcess::run_command("--check-config --config=", output) == 2);
  CHECK(output.rfind("chatd: --config needs a FILE\n", 0) == 0);
}

TEST_CASE("a file chatd cannot parse is refused in seconds, naming it, with or without --check-config") {
  std::string output;
  const auto start = std::chrono::steady_clock::now();
  CHECK(ChatdProcess::run_command("--config /dev/zero", output, 5s) == 2);
  CHECK(output == "/dev/zero: not a regular file\n");
  // yaml-cpp 0.7 never finishes parsing these (see config_loader.cpp).
  for (const char* yaml : {",\n", " ,]", " &x,x]"}) {
    CAPTURE(yaml);
    const std::string path = write_temp_file(yaml);
    for (const char* args : {"--config ", "--check-config --config "}) {
      CHECK(ChatdProcess::run_command(args + path, output, 5s) == 2);
      CHECK(output.find(path + ":1:") == 0);
      CHECK(output.find("the YAML parser did not finish") != std::string::npos);
    }
    std::remove(path.c_str());
  }
  const std::string large = write_temp_file(std::string(2 * 1024 * 1024, '#'));
  CHECK(ChatdProcess::run_command("--check-config --config " + large, output, 5s) == 2);
  CHECK(output.find(large + ": larger than 1048576 bytes") == 0);
  std::remove(large.c_str());
  CHECK(std::chrono::steady_clock::now() - start < 10s);
}

TEST_CASE("--check-config and the start refuse a hostname, a missing history folder or static root") {
  const std::string folder = make_temp_folder();
  const auto write = [&folder](const std::string& yaml) {
    std::ofstream(folder + "/chat.yaml") << yaml;
    return folder + "/chat.yaml";
  };
  std::string output;
  const std::string static_root = "static: {root: \"\"}\n";
  struct Refused {
    std::string yaml;
    std::string error;  // after "FILE:"
  };
  const Refused refused[] = {
      {"listen: {address: localhost}\n" + static_root,
       "1:19: listen.address: 'localhost' is not an IP address (hostnames are not resolved"},
      {"listen: {address: 127.0.0.l}\n" + static_root,
       "1:19: listen.address: '127.0.0.l' is not an IP address"},
      {static_root + "history: {path: missing/chat.db}\n",
       "2:17: history.path: 'missing/chat.db': the folder " + folder + "/missing does not exist"},
      {"static: {root: www}\n", "1:16: static.root: 'www': no folder " + folder + "/www"},
  };
  for (const Refused& config : refused) {
    CAPTURE(config.yaml);
    const std::string path = write(config.yaml);
    for (const char* args : {"--check-config --config ", "--config "}) {
      CHECK(ChatdProcess::run_command(args + path, output, 5s) == 2);
      CHECK(output.find(path + ":" + config.error) == 0);
    }
  }
  CHECK(ChatdProcess::run_command("--check-config --config " + write(static_root), output) == 0);
  CHECK(output == "ok\n");
  remove_folder(folder);
}

TEST_CASE("static.root \"\" starts a server that serves no files, not the config's folder") {
  ChatdProcess server("static: {root: \"\"}\nlog: {level: warn}\n");
  CHECK(http_get(server.port(), "/chat.yaml").status == 404);
  CHECK(http_get(server.port(), "/").status == 404);
  CHECK(http_get(server.port(), "/healthz").status == 200);
}
