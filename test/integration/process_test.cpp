// The process: command line, config errors, shutdown on SIGTERM/SIGINT.
#include <doctest/doctest.h>

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
  const std::string good = write_temp_file("listen: { port: 9999 }\nsubscriber:\n  queue: 32\n");
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
  const std::string taken = write_temp_file("listen: { port: " + std::to_string(first.port()) + " }\n");
  CHECK(ChatdProcess::run_command("--config " + taken, output) == 1);
  CHECK(output.find("cannot listen on") != std::string::npos);
}
