// What a room knows about one WebSocket connection in it: the queue it fans out into, and the
// shape of event the connection wants.
#pragma once

#include <cstddef>
#include <limits>

#include "server/outbound_queue.hpp"

namespace chatd {

enum class EventFormat { json, text };

class Subscriber {
 public:
  Subscriber(const asio::any_io_executor& executor, std::size_t queue_limit, EventFormat format)
      : queue_(executor, queue_limit), format_(format) {}
  virtual ~Subscriber() = default;

  OutboundQueue& queue() { return queue_; }
  EventFormat format() const { return format_; }

 private:
  friend class Room;
  OutboundQueue queue_;
  EventFormat format_;
  std::size_t room_slot_ =
      std::numeric_limits<std::size_t>::max();  // index in the room's list; room thread only
};

}  // namespace chatd
