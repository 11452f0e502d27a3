// One Server-Sent Events stream (GET /events, docs/api.md) after its request: a subscriber of a room whose
// events go out as text/event-stream through the same queue and StreamWriter a WebSocket session uses,
// encoded once per room for every stream (EventFormat::sse_json, sse_text). The reader sends nothing
// after its request; what it does send is read and dropped, and its end of the connection ends the stream.
// A keepalive comment goes out every subscriber.ping_interval; a dead reader is found by the writes
// failing or stalling past subscriber.write_timeout, as there is no pong to wait for.
// An idle stream is this object and one pending wait.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include "config/config.hpp"
#include "server/auth/session_tokens.hpp"
#include "server/core/disconnect.hpp"
#include "server/core/worker.hpp"
#include "server/rooms/room.hpp"
#include "server/rooms/subscriber.hpp"
#include "server/transport/session.hpp"
#include "server/transport/session_access.hpp"
#include "server/transport/stream_writer.hpp"

namespace chatd {

class EventStreamSession : public Subscriber,
                           public Session,
                           private StreamWriter::Owner,
                           public std::enable_shared_from_this<EventStreamSession> {
 public:
  // `options.format` is one of the event stream's (sse_json, sse_text).
  EventStreamSession(asio::ip::tcp::socket socket, Worker& worker, const config::Config& config,
                     SubscriberOptions options);
  ~EventStreamSession() override;

  // Any thread: the streams open in this process, for chatd_connections_open{transport="sse"}.
  static std::size_t open_count() { return open_streams_.load(std::memory_order_relaxed); }

  Worker& worker() const override { return worker_; }
  Description describe() const override;

  // Session: joins the room and writes the stream's 200 head `response`; then reads (and drops) what the
  // reader sends until it closes; then closes the socket, leaves the room, logs.
  asio::awaitable<bool> start(std::string response) override;
  void begin_reading() override;
  asio::awaitable<void> finish() override;
  void close_on_logout(SessionTokens& sessions, const std::string& sha256) override {
    chatd::close_on_logout(access_, *this, sessions, sha256);
  }

  // Any thread.
  void wake_writer() override;
  // Worker thread only: writes what is queued, now; nothing before the head is written (start()).
  void flush() override {
    if (answered_) writer_.flush();
  }
  // Worker thread only.
  void tick(std::chrono::steady_clock::time_point now) override;
  void close_going_away() override;

 private:
  using Clock = std::chrono::steady_clock;

  enum class State {
    open,
    close_sent,  // the `close` event is written and our side shut: the reader's end is due
    closed,      // finish() closed the socket
    dropped,     // ended without a `close` event: drop_reason_ says why
  };

  void wait_for_input();
  void on_readable(asio::error_code ec);
  void end_reading();

  // StreamWriter::Owner.
  SharedFrame close_frame(std::uint16_t code, std::string_view reason) override;
  void close_frame_written() override;
  void write_failed() override;
  void write_threw(const std::exception& error) override;
  std::shared_ptr<void> keep_alive() override { return shared_from_this(); }

  void drop(std::string_view why);
  void log_close();

  static std::atomic<std::size_t> open_streams_;

  asio::ip::tcp::socket socket_;
  Worker& worker_;
  const config::Config& config_;
  std::shared_ptr<Room> room_;
  std::string peer_;
  std::int64_t connected_at_ms_;           // wall-clock, for GET /admin/sessions
  std::unique_ptr<SessionAccess> access_;  // null in auth.mode open
  // What start() joins with, freed then, so an idle stream does not carry it.
  struct Resume {
    std::optional<std::uint64_t> since;
    std::string epoch;
  };
  std::unique_ptr<Resume> resume_;
  StreamWriter writer_;
  Clock::time_point last_keepalive_;
  Clock::time_point close_sent_at_{};  // with State::close_sent
  State state_ = State::open;
  bool answered_ = false;         // the 200 head is written: events may follow it (worker thread)
  std::string_view drop_reason_;  // with State::dropped (disconnect::), logged as ended="..."
};

}  // namespace chatd
