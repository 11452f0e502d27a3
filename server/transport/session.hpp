// A connection after its HTTP phase: what serve_http hands the socket to once a route took it over (the
// WebSocket upgrade, the event stream), and what its worker then drives. Sharing Driven's vtable, the
// interface costs a session no pointer.
// Thread affinity: worker thread only (the connection's), every member.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <asio/awaitable.hpp>

#include "server/core/driven.hpp"
#include "server/rooms/event_format.hpp"

namespace chatd {

class Room;
class SessionTokens;
class Worker;

// What a subscriber session is opened with, whichever its transport (http/subscription.cpp admits it).
struct SubscriberOptions {
  std::shared_ptr<Room> room;
  std::string name;
  EventFormat format = EventFormat::json;
  bool presence_events = false;        // deliver join and leave events too
  std::optional<std::uint64_t> since;  // recover the events after this id first
  std::string epoch;                   // with since: the epoch the client last saw
  std::string peer;                    // "address:port", for logs
  // Access control: when the token expires. The session is closed then with 4001, and its client comes
  // back with a fresh token and since= (or Last-Event-ID) to miss nothing.
  std::optional<std::chrono::steady_clock::time_point> expires_at;
};

class Session : public Driven {
 public:
  // The worker whose thread runs it, every member below included: it may be another worker than the
  // one that read its request (http/subscription.cpp, place_subscriber). Any thread.
  virtual Worker& worker() const = 0;
  // Joins the room and writes `response` (the 101, or the event stream's 200). Then begin_reading(),
  // or, if it failed, finish().
  virtual asio::awaitable<bool> start(std::string response) = 0;
  // Reads what the peer sends from now on. The session now keeps itself alive.
  virtual void begin_reading() = 0;
  // Writes a close still owed, closes the socket, leaves the room, logs.
  virtual asio::awaitable<void> finish() = 0;

  // Before start(): a POST /logout of login session `sha256` closes this session with 4003 (from the
  // logging-out thread); if that session has ended already, it is closed so at once.
  virtual void close_on_logout(SessionTokens& sessions, const std::string& sha256) = 0;

  // Keeps `held` (the connection's place under limits.max_connections) until the session is destroyed.
  // Before begin_reading().
  void hold_until_destroyed(std::shared_ptr<void> held) { held_ = std::move(held); }

 private:
  std::shared_ptr<void> held_;
};

}  // namespace chatd
