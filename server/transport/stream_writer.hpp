// The write path of a connection that sends frames from an OutboundQueue over a stream socket: everything
// queued goes out in one gather write, straight from the worker's flush; the write loop coroutine exists
// only while the socket pushes back. WebSocket sessions and event streams (SSE) both write through it:
// the queue holds each transport's own bytes, and only the close is asked of the owner.
// Thread affinity: worker thread only (the thread that owns the socket), every member.
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <string_view>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include "server/rooms/outbound_queue.hpp"

namespace chatd {

class StreamWriter {
 public:
  using Clock = std::chrono::steady_clock;

  // What the writer tells the connection that owns it. Each is called at most a few times per connection,
  // never per frame.
  class Owner {
   public:
    virtual ~Owner() = default;
    // The close the queue says is due, in this transport's shape: a WebSocket close frame, an SSE `close`
    // event. Built once, when the writer reaches it.
    virtual SharedFrame close_frame(std::uint16_t code, std::string_view reason) = 0;
    // The queue's close frame, its last, is written.
    virtual void close_frame_written() = 0;
    // The socket refused a write: the connection is gone. The writer has let go of its batch.
    virtual void write_failed() = 0;
    // Writing threw (memory ran out): this connection ends; the worker goes on with the others.
    virtual void write_threw(const std::exception& error) = 0;
    // Keeps the owner (and so this writer and the socket) alive while the write loop runs.
    virtual std::shared_ptr<void> keep_alive() = 0;
  };

  StreamWriter(asio::ip::tcp::socket& socket, OutboundQueue& queue, Owner& owner)
      : socket_(socket), queue_(queue), owner_(owner) {}

  // Writes what is queued, now; what the socket cannot take goes to the write loop. Errors go to the owner.
  void flush();
  // Until what is queued is written or writing ends: joins a write loop in flight, or writes itself.
  asio::awaitable<void> drain();

  // Since when the asynchronous write in flight has waited for the socket; the epoch when none has.
  Clock::time_point stalled_since() const { return write_started_; }
  // Whether that wait has lasted longer than `limit` at `now` (subscriber.write_timeout: the peer is
  // dropped).
  bool stalled_longer_than(Clock::time_point now, Clock::duration limit) const {
    return write_started_ != Clock::time_point{} && now - write_started_ > limit;
  }
  bool writing_async() const { return writing_async_; }

 private:
  enum class Step { done, blocked, ended };

  Step write_now();
  asio::awaitable<void> write_loop(std::shared_ptr<void> keep_alive);
  asio::awaitable<void> write_until_drained();  // write_loop's body
  void fail();

  asio::ip::tcp::socket& socket_;
  OutboundQueue& queue_;
  Owner& owner_;
  std::vector<SharedFrame> batch_;                 // frames being written
  std::vector<asio::const_buffer> batch_buffers_;  // what of them is not written yet
  Clock::time_point write_started_{};              // epoch when no asynchronous write is in flight
  asio::steady_timer* loop_done_ = nullptr;        // set while drain() waits for write_loop()
  bool batch_ends_with_close_ = false;
  bool writing_async_ = false;  // write_loop() owns the writing
};

}  // namespace chatd
