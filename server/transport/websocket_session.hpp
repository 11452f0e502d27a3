// One WebSocket connection after the handshake: the socket, where the close handshake stands
// (CloseState), the write path (StreamWriter), what the peer sends (WebSocketInput), and keepalive.
// Input is handled as it arrives; the input's waiting loop runs only while handling must wait (for a
// publish token, for room in the room's inbox). Writes go straight to the socket when the room wakes the
// connection, and the write loop runs only while the socket pushes back. An idle connection is this
// object and one pending wait.
#pragma once

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
#include "server/transport/websocket_input.hpp"

namespace chatd {

class WebSocketSession : public Subscriber,
                         public Session,
                         private StreamWriter::Owner,
                         private WebSocketInput::Owner,
                         public std::enable_shared_from_this<WebSocketSession> {
 public:
  struct Options : SubscriberOptions {
    std::string initial_bytes;  // frames that arrived with the handshake
    bool read_only = false;     // access control: a token that may not publish (1008 if it tries)
  };

  WebSocketSession(asio::ip::tcp::socket socket, Worker& worker, const config::Config& config,
                   Options options);

  Worker& worker() const override { return worker_; }
  Description describe() const override;

  // Session: joins the room and answers the handshake with `handshake_response`; handles what came with
  // the handshake, then waits for input; writes a close frame still owed, closes, leaves, logs.
  asio::awaitable<bool> start(std::string handshake_response) override;
  void begin_reading() override;
  asio::awaitable<void> finish() override;
  void close_on_logout(SessionTokens& sessions, const std::string& sha256) override {
    chatd::close_on_logout(access_, *this, sessions, sha256);
  }

  // Any thread.
  void wake_writer() override;
  // Worker thread only: writes what is queued, now, or hands it to the write loop; nothing before the
  // 101 is written (start() flushes then).
  void flush() override {
    if (answered_) writer_.flush();
  }

  // Worker thread only.
  void tick(std::chrono::steady_clock::time_point now) override;
  void close_going_away() override;

 private:
  using Clock = std::chrono::steady_clock;

  // Where the close handshake stands on our side (RFC 6455 7.1). Whether a close frame is queued is the
  // queue's to say (queue().closed()), not a state here: the room queues one too (too slow), from its own
  // thread. The peer's side is the input's: input_.peer_close_code(), and refused input.
  enum class CloseState {
    open,        // our close frame is not written yet (it may be queued)
    close_sent,  // ours is written and our side of TCP shut: the peer's is due before close_timeout
    closed,      // we closed TCP: the handshake is complete (the server closes first, 7.1.1), or finish()
    dropped,     // ended without a close handshake: drop_reason_ says why
  };

  // What start() and begin_reading() use once: freed when reading begins, so an idle connection does not
  // carry it.
  struct Opening {
    std::optional<std::uint64_t> since;  // for the join
    std::string epoch;
    std::string initial_bytes;  // parsed first
  };

  // Reading: a plain completion handler while idle; the input's waiting loop only when handling must wait.
  void wait_for_input();
  void on_readable(asio::error_code ec);
  // Reads what the socket has into the thread's buffer and parses it. False at end of stream.
  bool read_available();
  void handle_input(Clock::time_point now);  // `now`: when the input was read
  asio::awaitable<void> read_loop();
  void input_failed(const std::exception& error);
  void end_reading();

  // StreamWriter::Owner.
  SharedFrame close_frame(std::uint16_t code, std::string_view reason) override {
    return protocol::share(protocol::close_frame(code, reason));
  }
  void close_frame_written() override;
  void write_failed() override;
  void write_threw(const std::exception& error) override;
  std::shared_ptr<void> keep_alive() override { return shared_from_this(); }
  // WebSocketInput::Owner: this session's room.
  bool try_send(RoomCommand& command) override { return room_->try_send(command); }
  asio::awaitable<bool> send(RoomCommand command) override { return room_->send(std::move(command)); }
  std::shared_ptr<Subscriber> author() override { return shared_from_this(); }

  // Ends the connection now, without a close frame (dead peer, timeouts). The first reason is kept.
  void drop(std::string_view why);
  void log_failure(std::string_view what, const std::exception& error);
  void count_end();  // chatd_websocket_closes_total{code} or chatd_websocket_drops_total
  void log_close();

  asio::ip::tcp::socket socket_;
  Worker& worker_;
  const config::Config& config_;
  std::shared_ptr<Room> room_;
  std::string peer_;
  std::int64_t connected_at_ms_;  // wall-clock, for GET /admin/sessions
  std::unique_ptr<Opening> opening_;
  std::unique_ptr<SessionAccess> access_;  // null in auth.mode open
  WebSocketInput input_;
  StreamWriter writer_;
  Clock::time_point last_received_;
  Clock::time_point last_ping_;
  Clock::time_point close_sent_at_{};  // with CloseState::close_sent
  CloseState close_state_ = CloseState::open;
  bool answered_ = false;         // the handshake's 101 is written: frames may follow it (worker thread)
  std::string_view drop_reason_;  // with CloseState::dropped (disconnect::), logged as ended="..."
};

}  // namespace chatd
