#include "server/server.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <csignal>
#include <sstream>
#include <thread>

#include <asio/signal_set.hpp>

#include "server/log.hpp"

namespace chatd {

namespace {

// After SIGTERM, sessions get this long to finish their close handshakes before the process exits.
constexpr auto shutdown_grace = std::chrono::milliseconds(1500);

std::chrono::milliseconds tick_for(const config::Subscriber& settings) {
  using std::chrono::milliseconds;
  const auto shortest = std::min(settings.write_timeout, settings.ping_interval);
  return std::clamp(std::chrono::duration_cast<milliseconds>(shortest / 4), milliseconds(10),
                    milliseconds(250));
}

unsigned thread_count(unsigned configured) {
  if (configured > 0) return configured;
  return std::max(1u, std::thread::hardware_concurrency());
}

// Every connection is a file descriptor: use all the process may have.
void raise_open_file_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == limit.rlim_max) return;
  limit.rlim_cur = limit.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) log::warn("could not raise the open-file limit");
}

}  // namespace

Server::Server(config::Config config)
    : config_(std::move(config)),
      workers_(thread_count(config_.server.threads), tick_for(config_.subscriber)),
      store_(open_history_store(config_.history)),
      rooms_(config_.rooms, config_.history, *store_, workers_),
      http_limiter_(config_.publish.rate, config_.publish.burst),
      static_files_(config_.static_files.root, config_.routes.static_files),
      context_{config_, workers_, rooms_, http_limiter_, static_files_} {
  log::set_level(config_.log.level);
  raise_open_file_limit();
  const asio::ip::tcp::endpoint endpoint(asio::ip::make_address(config_.listen.address), config_.listen.port);
  listener_ = std::make_unique<Listener>(workers_.at(0).context(), endpoint, context_);
}

Server::~Server() = default;

int Server::run() {
  std::signal(SIGPIPE, SIG_IGN);
  asio::io_context control(1);
  asio::signal_set signals(control, SIGINT, SIGTERM);
  signals.async_wait([](asio::error_code, int signal) {
    log::info("received ", signal == SIGINT ? "SIGINT" : "SIGTERM", ": shutting down");
  });

  workers_.start();
  listener_->start();
  const auto endpoint = listener_->local_endpoint();
  // Always printed, whatever log.level says: with port 0 it is the only way to learn the port.
  std::ostringstream started;
  started << "listening on " << endpoint.address().to_string() << ":" << endpoint.port() << " with "
          << workers_.size() << " thread" << (workers_.size() == 1 ? "" : "s");
  log::write(log::Level::info, started.view());
  control.run();  // returns once the signal handler has run
  shut_down();
  return 0;
}

void Server::shut_down() {
  listener_->stop();
  for (std::size_t i = 0; i < workers_.size(); ++i) workers_.at(i).close_sessions_going_away();
  const auto deadline = std::chrono::steady_clock::now() + shutdown_grace;
  while (workers_.session_count() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (const auto left = workers_.session_count(); left > 0) {
    log::warn(left, " WebSocket session(s) did not finish closing in time");
  }
  rooms_.stop_all(std::chrono::steady_clock::now() + std::chrono::milliseconds(200));
  workers_.stop();
  workers_.join();
  rooms_.release_all_after_stop();
  store_->close();  // commits what the rooms appended last
  log::info("stopped");
}

}  // namespace chatd
