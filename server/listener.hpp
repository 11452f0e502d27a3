// Accepts connections and deals them out to the workers, round-robin.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include "server/server_context.hpp"

namespace chatd {

class Listener {
 public:
  // Binds and listens at once, so a busy port fails start-up rather than the first accept, and before
  // anything else changes (the database is opened after this): a start that fails here leaves no trace.
  Listener(asio::io_context& context, const asio::ip::tcp::endpoint& endpoint);

  asio::ip::tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }
  // Accepts connections and serves them with `server`, which must outlive the listener.
  void start(const ServerContext& server);
  // Any thread: stop accepting.
  void stop();

 private:
  asio::awaitable<void> accept_loop();

  asio::ip::tcp::acceptor acceptor_;
  const ServerContext* server_ = nullptr;  // set by start()
};

}  // namespace chatd
