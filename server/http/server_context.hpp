// What every connection reads: the config and the shared services. Lives as long as the server.
#pragma once

#include <functional>
#include <string>

#include <asio/any_io_executor.hpp>

#include "config/config.hpp"
#include "server/auth/authenticator.hpp"
#include "server/core/worker_pool.hpp"
#include "server/http/static_files.hpp"
#include "server/limits/address_limiter.hpp"
#include "server/rooms/room_registry.hpp"

namespace chatd {

class Router;

struct ServerContext {
  const config::Config& config;
  WorkerPool& workers;
  RoomRegistry& rooms;
  AddressLimiter& http_limiter;
  AddressLimiter& handshake_limiter;      // limits.handshake_rate/burst: WebSocket upgrades per address
  AddressLimiter& room_creation_limiter;  // rooms.create_rate/burst: rooms made live per address
  AddressLimiter& login_limiter;          // auth.login_rate/burst: failed logins per address
  Authenticator& auth;
  asio::any_io_executor auth_executor;  // the auth thread: password checks and session writes
  const StaticFiles& static_files;
  const Router& router;  // server/http/router.hpp; declared only, as router.hpp includes this file
  // Any thread: "" when healthy; otherwise why this node is degraded (cluster: Redis unreachable).
  std::function<std::string()> degraded;
};

}  // namespace chatd
