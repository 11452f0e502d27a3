// What a room knows about one WebSocket connection in it: the queue it fans out into, the shape of
// event the connection wants, whose session it is, and how to get the connection to write what was queued.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <string_view>

#include "server/core/disconnect.hpp"
#include "server/rooms/event_format.hpp"
#include "server/rooms/outbound_queue.hpp"

namespace chatd {

class Subscriber {
 public:
  // `queue_limit` and `queue_bytes`: subscriber.queue and subscriber.queue_bytes.
  Subscriber(std::size_t queue_limit, EventFormat format, std::string name, bool presence_events,
             std::size_t queue_bytes = OutboundQueue::unbounded)
      : queue_(queue_limit, queue_bytes),
        format_(format),
        name_(std::move(name)),
        presence_events_(presence_events),
        session_id_(new_session_id()) {}
  virtual ~Subscriber() = default;

  OutboundQueue& queue() { return queue_; }
  EventFormat format() const { return format_; }
  // The user this connection is a session of: presence counts sessions per name.
  const std::string& name() const { return name_; }
  // Whether join and leave events are delivered (JSON only): in a big room they are most of the traffic.
  bool wants_presence_events() const { return presence_events_ && format_info(format_).json; }

  // Any thread: a push said `wake`; the connection flushes its queue on its own thread.
  virtual void wake_writer() = 0;

  // A random id given at connect, never 0: how an operator names one connection (GET /admin/sessions,
  // POST /admin/disconnect). Not a secret: the admin listener is the only place it is shown.
  std::uint64_t session_id() const { return session_id_; }
  // What GET /admin/sessions lists besides the id, name and queued bytes. Room thread (the connection's
  // fields it reads are fixed at connect).
  struct Description {
    std::string peer;            // address:port
    std::string_view transport;  // "websocket"
    std::int64_t connected_at_ms = 0;
  };
  virtual Description describe() const { return {}; }

  // Any thread: queues the close frame `why` (after what is queued with `drain`, instead of it without)
  // and wakes the writer to send it. Only the first close counts (OutboundQueue::close).
  void close(Disconnect why, bool drain) {
    if (queue_.close(why.code, why.reason, drain)) wake_writer();
  }

 private:
  friend class Room;
  static std::uint64_t new_session_id();

  OutboundQueue queue_;
  EventFormat format_;
  std::string name_;
  bool presence_events_;
  std::uint64_t session_id_;
  std::size_t room_slot_ =
      std::numeric_limits<std::size_t>::max();  // index in the room's list; room thread only
};

inline std::uint64_t Subscriber::new_session_id() {
  // One generator per thread, seeded once from the system: connections are made on every worker at once.
  thread_local std::mt19937_64 generator(std::random_device{}());
  std::uint64_t id = 0;
  while (id == 0) id = generator();
  return id;
}

}  // namespace chatd
