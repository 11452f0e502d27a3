// The frames waiting to be written to one WebSocket connection.
// The room pushes from its own thread; the connection's write loop drains everything queued in one
// gather write. The queue is bounded: a push beyond the bound is refused, so a slow client never
// makes the server hold more than `limit` messages for it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/steady_timer.hpp>

#include "protocol/frame_builder.hpp"

namespace chatd {

using protocol::SharedFrame;

class OutboundQueue {
 public:
  // `backlog`: queued, and the queue is now at least half full. The room then lets writers run before
  // its next event, so that a burst is not mistaken for a slow client.
  enum class Push { queued, backlog, full, closed };

  OutboundQueue(const asio::any_io_executor& writer_executor, std::size_t limit);

  // Any thread. Message frames, all or none: `full` when they would take the queue past `limit`.
  Push push(const std::vector<SharedFrame>& frames);
  // Any thread. A control frame (ping, pong): not counted against the limit.
  void push_control(SharedFrame frame);
  // Any thread. Queues the close frame, the last frame this queue will write. With `drain`, what is
  // queued goes first; without, it is dropped. Later pushes are refused. Only the first close counts:
  // returns false if the queue was already closed.
  bool close(std::uint16_t code, std::string_view reason, bool drain);
  // The code and reason of the close frame queued, if any (code 0 when none).
  std::uint16_t close_code();
  std::string close_reason();
  // Any thread: wake the writer with nothing more to write (the connection is going away).
  void abort();

  // Writer side (the connection's executor only).
  // Waits until something is queued, the queue is closed, or it is aborted.
  asio::awaitable<void> wait();
  // Swaps everything queued into `batch` (which must be empty). True when the batch ends with the close
  // frame.
  bool take(std::vector<SharedFrame>& batch);
  bool aborted();
  bool closed();

 private:
  void wake_writer_locked();

  std::mutex mutex_;
  std::vector<SharedFrame> frames_;
  std::size_t messages_ = 0;  // message frames in frames_, the ones the limit counts
  std::size_t limit_;
  SharedFrame close_frame_;
  std::uint16_t close_code_ = 0;
  std::string close_reason_;
  bool closed_ = false;
  bool close_taken_ = false;
  bool aborted_ = false;
  bool writer_waiting_ = false;
  asio::steady_timer wake_;  // the writer sleeps on it; cancelled to wake it
};

}  // namespace chatd
