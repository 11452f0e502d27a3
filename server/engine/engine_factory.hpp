// Where a room's engine comes from: the registry asks for one when it makes a room (RoomRegistry, on its
// loader thread, since loading is blocking I/O: a SQLite read, or Redis round trips).
#pragma once

#include <memory>
#include <stdexcept>
#include <string>

#include "config/config.hpp"
#include "server/engine/engine.hpp"
#include "server/store/history_store.hpp"

namespace chatd {

// The engine cannot load a room now (cluster: Redis unreachable): asking again later may work (503).
class EngineUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class EngineFactory {
 public:
  virtual ~EngineFactory() = default;
  // Loader thread, blocking: whether `room` has a history (so asking about it may bring it back).
  // Throws StoreError or EngineUnavailable.
  virtual bool knows(const std::string& room) = 0;
  // Loader thread, blocking: the engine of `room`, holding what the room starts from
  // (Engine::take_loaded_history). Throws StoreError or EngineUnavailable.
  virtual std::unique_ptr<Engine> load(const std::string& room) = 0;
};

// One node: LocalEngine over the history store.
class LocalEngineFactory final : public EngineFactory {
 public:
  LocalEngineFactory(HistoryStore& store, const config::History& settings)
      : store_(store), settings_(settings) {}
  bool knows(const std::string& room) override { return store_.knows(room); }
  std::unique_ptr<Engine> load(const std::string& room) override;

 private:
  HistoryStore& store_;
  const config::History& settings_;
};

}  // namespace chatd
