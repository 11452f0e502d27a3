// The whole server: workers, rooms, listener, and the orderly shutdown on SIGINT/SIGTERM.
#pragma once

#include <memory>
#include <optional>

#include <asio/thread_pool.hpp>

#include "config/config.hpp"
#include "server/auth/authenticator.hpp"
#include "server/cluster/cluster_node.hpp"
#include "server/core/worker_pool.hpp"
#include "server/engine/engine_factory.hpp"
#include "server/http/router.hpp"
#include "server/http/server_context.hpp"
#include "server/http/static_files.hpp"
#include "server/limits/address_limiter.hpp"
#include "server/limits/connection_limiter.hpp"
#include "server/net/listener.hpp"
#include "server/rooms/room_registry.hpp"
#include "server/store/database_lock.hpp"
#include "server/store/history_store.hpp"

namespace chatd {

class Server {
 public:
  // In this order, so that a start that fails leaves the database as it found it: locks the database
  // (throws StoreError if another chatd has it), binds the listening socket (throws std::system_error) and
  // the admin one (throws config::ConfigError naming admin.listen),
  // then opens the history store and loads the configured rooms (throw StoreError), then builds the
  // authenticator (throws config::ConfigError for a key or hash libcrypto cannot use).
  explicit Server(config::Config config);
  ~Server();

  // Serves until SIGINT or SIGTERM, then closes every WebSocket with 1001 and returns the exit code.
  int run();

 private:
  void shut_down();
  void log_start() const;
  Levels levels();
  void start_admin();

  config::Config config_;
  std::optional<DatabaseLock> database_lock_;  // history.store: sqlite; held until the store is closed
  // Before the workers: a connection coroutine still in a worker's queue at shutdown holds a Slot.
  ConnectionLimiter connections_;
  ConnectionLimiter admin_connections_;  // the admin listener's, apart from the public port's
  WorkerPool workers_;
  std::unique_ptr<Listener> listener_;
  // admin.listen: GET /metrics and /readyz (null when off). Bound right after the public listener, before
  // the database is opened, so a port in use fails start-up leaving no trace either.
  std::unique_ptr<Listener> admin_listener_;
  std::unique_ptr<HistoryStore> store_;  // outlives the rooms, which append to it
  // cluster.engine redis: this node's links to Redis (null with engine none). Outlives the rooms, whose
  // engines post to it.
  std::unique_ptr<cluster::ClusterNode> cluster_;
  std::unique_ptr<EngineFactory> engines_;  // what numbers and keeps each room's events
  RoomRegistry rooms_;
  std::unique_ptr<Authenticator> auth_;  // reads its sessions from the store's database
  // One thread for what must not stall an event loop: password checks (scrypt) and session writes.
  // Declared after auth_, so it is joined before the authenticator it uses goes.
  asio::thread_pool auth_threads_{1};
  AddressLimiter http_limiter_;
  AddressLimiter handshake_limiter_;      // limits.handshake_rate/burst, per remote address
  AddressLimiter room_creation_limiter_;  // rooms.create_rate/burst, per remote address
  AddressLimiter login_limiter_;          // auth.login_rate/burst: failed logins, per remote address
  StaticFiles static_files_;
  Router router_;
  ServerContext context_;
  // The admin listener's: the public table's context with the admin routes.
  Router admin_router_;
  ServerContext admin_context_;
};

}  // namespace chatd
