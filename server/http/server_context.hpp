// What every connection reads: the config and the shared services. Lives as long as the server.
#pragma once

#include <cstddef>
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

// What is a level rather than a count, read from its owner when GET /metrics asks (server/app fills it).
struct Levels {
  std::size_t connections_open = 0;  // client connections on the public listener, every transport
  std::size_t sessions = 0;          // of which handed to a session (WebSocket, event stream)
  std::size_t event_streams = 0;     // of which event streams (SSE)
  std::size_t rooms = 0;             // live rooms
  std::size_t history_pending_events = 0;
  std::string history_failure;  // HistoryStore::failure: "" while commits succeed
  bool clustered = false;       // cluster.engine redis: the three below mean something
  bool redis_command_up = false;
  bool redis_subscriber_up = false;
  double redis_round_trip_seconds = -1;  // the last probe's; negative before the first
};

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
  // Any thread: the levels GET /metrics reports.
  std::function<Levels()> levels;
};

}  // namespace chatd
