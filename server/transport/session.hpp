// A connection after its HTTP phase: what serve_http hands the socket to once a route took it over (the
// WebSocket upgrade, the event stream), and what its worker then drives. Sharing Driven's vtable, the
// interface costs a session no pointer.
// Thread affinity: worker thread only (the connection's), every member.
#pragma once

#include <memory>
#include <string>

#include <asio/awaitable.hpp>

#include "server/core/driven.hpp"

namespace chatd {

class Session : public Driven {
 public:
  // Joins the room and writes `response` (the 101, or the event stream's 200). Then begin_reading(),
  // or, if it failed, finish().
  virtual asio::awaitable<bool> start(std::string response) = 0;
  // Reads what the peer sends from now on. The session now keeps itself alive.
  virtual void begin_reading() = 0;
  // Writes a close still owed, closes the socket, leaves the room, logs.
  virtual asio::awaitable<void> finish() = 0;

  // Keeps `held` (the connection's place under limits.max_connections) until the session is destroyed.
  // Before begin_reading().
  void hold_until_destroyed(std::shared_ptr<void> held) { held_ = std::move(held); }

 private:
  std::shared_ptr<void> held_;
};

}  // namespace chatd
