// What a room knows about one WebSocket connection in it: the queue it fans out into, the shape of
// event the connection wants, and how to get the connection to write what was queued.
#pragma once

#include <cstddef>
#include <limits>

#include "server/outbound_queue.hpp"

namespace chatd {

enum class EventFormat { json, text };

class Subscriber {
 public:
  Subscriber(std::size_t queue_limit, EventFormat format) : queue_(queue_limit), format_(format) {}
  virtual ~Subscriber() = default;

  OutboundQueue& queue() { return queue_; }
  EventFormat format() const { return format_; }

  // Any thread: a push said `wake`; the connection flushes its queue on its own thread.
  virtual void wake_writer() = 0;

 private:
  friend class Room;
  OutboundQueue queue_;
  EventFormat format_;
  std::size_t room_slot_ =
      std::numeric_limits<std::size_t>::max();  // index in the room's list; room thread only
};

}  // namespace chatd
