// What a worker drives: a connection with a queue to flush, deadlines to check, and a close to send
// at shutdown. WebSocket sessions today; any transport that writes from an OutboundQueue tomorrow.
#pragma once

#include <chrono>

namespace chatd {

class Driven {
 public:
  virtual ~Driven() = default;

  // Worker thread only: writes what is queued, now, or hands it to an asynchronous write.
  virtual void flush() = 0;
  // Worker thread only, every tick: write, ping and close deadlines.
  virtual void tick(std::chrono::steady_clock::time_point now) = 0;
  // Worker thread only: the server is stopping; close with 1001 once what is queued is written.
  virtual void close_going_away() = 0;
};

}  // namespace chatd
