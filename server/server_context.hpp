// What every connection reads: the config and the shared services. Lives as long as the server.
#pragma once

#include "config/config.hpp"
#include "server/address_limiter.hpp"
#include "server/room_registry.hpp"
#include "server/static_files.hpp"
#include "server/worker_pool.hpp"

namespace chatd {

struct ServerContext {
  const config::Config& config;
  WorkerPool& workers;
  RoomRegistry& rooms;
  AddressLimiter& http_limiter;
  const StaticFiles& static_files;
};

}  // namespace chatd
