// Accepts connections and deals them out to the workers, round-robin.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include "server/server_context.hpp"

namespace chatd {

class Listener {
 public:
  // Binds and listens at once, so a busy port fails start-up rather than the first accept.
  Listener(asio::io_context& context, const asio::ip::tcp::endpoint& endpoint, const ServerContext& server);

  asio::ip::tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }
  void start();
  // Any thread: stop accepting.
  void stop();

 private:
  asio::awaitable<void> accept_loop();

  asio::ip::tcp::acceptor acceptor_;
  const ServerContext& server_;
};

}  // namespace chatd
