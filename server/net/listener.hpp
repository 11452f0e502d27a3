// Accepts connections and deals them out to the workers, round-robin.
#pragma once

#include <functional>
#include <optional>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include "server/core/worker_pool.hpp"

namespace chatd {

class Listener {
 public:
  // Binds and listens at once, so a busy port fails start-up rather than the first accept, and before
  // anything else changes (the database is opened after this): a start that fails here leaves no trace.
  Listener(asio::io_context& context, const asio::ip::tcp::endpoint& endpoint);

  asio::ip::tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }
  // What serves one accepted connection, on the worker it was dealt to (the HTTP request loop). Called on
  // the listener's thread: nullopt refuses the connection (over a connection limit), and the listener
  // closes the socket at once, before reading anything from it.
  using Serve = std::function<std::optional<asio::awaitable<void>>(asio::ip::tcp::socket&, Worker&)>;
  // Accepts connections, deals them out over `workers` (which must outlive the listener) and serves
  // each with `serve`.
  void start(WorkerPool& workers, Serve serve);
  // Any thread: stop accepting.
  void stop();

 private:
  asio::awaitable<void> accept_loop();

  asio::ip::tcp::acceptor acceptor_;
  WorkerPool* workers_ = nullptr;  // set by start()
  Serve serve_;
};

}  // namespace chatd
