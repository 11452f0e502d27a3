// The whole server: workers, rooms, listener, and the orderly shutdown on SIGINT/SIGTERM.
#pragma once

#include <memory>

#include "config/config.hpp"
#include "server/address_limiter.hpp"
#include "server/history_store.hpp"
#include "server/listener.hpp"
#include "server/room_registry.hpp"
#include "server/server_context.hpp"
#include "server/static_files.hpp"
#include "server/worker_pool.hpp"

namespace chatd {

class Server {
 public:
  // Opens the history store (throws StoreError) and binds the listening socket (throws std::system_error).
  explicit Server(config::Config config);
  ~Server();

  // Serves until SIGINT or SIGTERM, then closes every WebSocket with 1001 and returns the exit code.
  int run();

 private:
  void shut_down();

  config::Config config_;
  WorkerPool workers_;
  std::unique_ptr<HistoryStore> store_;  // outlives the rooms, which append to it
  RoomRegistry rooms_;
  AddressLimiter http_limiter_;
  StaticFiles static_files_;
  ServerContext context_;
  std::unique_ptr<Listener> listener_;
};

}  // namespace chatd
