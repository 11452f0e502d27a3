// The frames waiting to be written to one WebSocket connection.
// The room pushes from its own thread; the connection drains everything queued in one gather write.
// The queue is bounded: a push beyond the bound is refused, so a slow client never makes the server
// hold more than `limit` messages for it. It wakes nobody itself: a push that finds the writer idle
// says so (`wake`), and the pusher schedules the connection's flush.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/frame_builder.hpp"

namespace chatd {

using protocol::SharedFrame;

class OutboundQueue {
 public:
  explicit OutboundQueue(std::size_t limit) : limit_(limit) {}

  struct Push {
    enum class Status { queued, full, closed };
    Status status = Status::queued;
    bool wake = false;     // the writer was idle: schedule a flush
    bool backlog = false;  // the queue is now at least half full
  };

  // Any thread. Message frames, all or none: `full` when they would take the queue past `limit`.
  Push push(const std::vector<SharedFrame>& frames);
  // Room thread. The events a resubscribing client missed, ahead of anything live: not counted against
  // the limit (history.max_events bounds them). Until they are written, live messages may queue beyond
  // the limit by as many as were replayed: a long replay is not the client being slow. True: wake the
  // writer.
  bool push_replay(const std::vector<SharedFrame>& frames);
  // Any thread. A control frame (ping, pong): not counted against the limit. True: wake the writer.
  bool push_control(SharedFrame frame);
  // Any thread. Queues the close frame, the last frame this queue will write. With `drain`, what is
  // queued goes first; without, it is dropped. Later pushes are refused. Only the first close counts.
  // True: wake the writer.
  bool close(std::uint16_t code, std::string_view reason, bool drain);
  // Any thread: drop everything; the connection is gone.
  void abort();

  // The code and reason of the close frame queued, if any (code 0 when none).
  std::uint16_t close_code();
  std::string close_reason();
  bool closed();
  bool aborted();

  // Writer side (the connection's thread). Swaps everything queued into `batch` (which must be empty);
  // `ends_with_close` tells whether the close frame is last. False when there is nothing to write: the
  // writer is then idle, and the next push will ask for a wake-up.
  bool take(std::vector<SharedFrame>& batch, bool& ends_with_close);

 private:
  bool wake_locked();

  std::mutex mutex_;
  std::vector<SharedFrame> frames_;
  std::size_t messages_ = 0;  // message frames in frames_, the ones the limit counts
  std::size_t limit_;
  std::size_t replay_grace_ = 0;   // extra room for live messages while a replay is being written
  bool replay_in_flight_ = false;  // the writer has taken the replay and not yet come back for more
  std::uint16_t close_code_ = 0;
  bool closed_ = false;
  bool close_taken_ = false;
  bool aborted_ = false;
  bool writer_idle_ = true;
  std::string close_reason_;
};

}  // namespace chatd
