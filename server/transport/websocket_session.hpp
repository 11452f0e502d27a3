// One WebSocket connection after the handshake. Input is handled as it arrives, and the read loop
// coroutine runs only while handling must wait (for a publish token, for room in the room's inbox).
// Writes go straight to the socket when the room wakes the connection, and the write loop coroutine
// runs only while the socket pushes back. An idle connection is this object and one pending wait.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include "config/config.hpp"
#include "protocol/frame_reader.hpp"
#include "server/core/disconnect.hpp"
#include "server/core/driven.hpp"
#include "server/core/worker.hpp"
#include "server/limits/token_bucket.hpp"
#include "server/rooms/room.hpp"
#include "server/rooms/subscriber.hpp"

namespace chatd {

class WebSocketSession : public Subscriber,
                         public Driven,
                         public std::enable_shared_from_this<WebSocketSession> {
 public:
  struct Options {
    std::shared_ptr<Room> room;
    std::string name;
    EventFormat format = EventFormat::json;
    bool presence_events = false;        // deliver join and leave events too
    std::optional<std::uint64_t> since;  // recover the events after this id first
    std::string epoch;                   // with since: the epoch the client last saw
    std::string peer;                    // "address:port", for logs
    std::string initial_bytes;           // frames that arrived with the handshake
  };

  WebSocketSession(asio::ip::tcp::socket socket, Worker& worker, const config::Config& config,
                   Options options);

  // Joins the room and answers the handshake with `handshake_response`. Then begin_reading(), or, if
  // it failed, finish().
  asio::awaitable<bool> start(std::string handshake_response);
  // Handles what came with the handshake, then waits for input. The session now keeps itself alive.
  void begin_reading();
  // Writes a close frame still owed, closes the socket, leaves the room, logs.
  asio::awaitable<void> finish();

  void wake_writer() override;
  // Worker thread only: writes what is queued, now, or hands it to the write loop.
  void flush() override;

  // Worker thread only.
  void tick(std::chrono::steady_clock::time_point now) override;
  void close_going_away() override;

 private:
  using Clock = std::chrono::steady_clock;
  enum class WriteStep { done, blocked, ended };

  // Reading: a plain completion handler while idle; the read loop only when handling must wait.
  void wait_for_input();
  void on_readable(asio::error_code ec);
  void handle_input();
  void end_reading();
  void input_failed(const std::exception& error);
  // Reads what the socket has into the thread's buffer and parses it. False at end of stream.
  bool read_available();
  void parse(std::uint8_t* data, std::size_t size);
  // Handles parsed messages from `next` on without waiting; stops where waiting would be needed.
  struct Handled {
    std::size_t next = 0;  // first message not handled
    bool stop = false;     // the connection is closing: read no more
  };
  Handled handle_messages_now(std::size_t next);
  asio::awaitable<void> read_loop(std::size_t next);
  // The same, suspending for tokens and inbox room. False when reading should stop.
  asio::awaitable<bool> handle_messages(std::size_t next);
  bool handle_control(protocol::IncomingMessage& message);
  asio::awaitable<void> throttle(Clock::duration wait);
  bool publishable(const protocol::IncomingMessage& message);
  bool try_publish_outgoing();
  asio::awaitable<void> publish_outgoing();
  RoomCommand outgoing_command();

  WriteStep write_now();
  asio::awaitable<void> write_loop();
  asio::awaitable<void> write_until_drained();  // write_loop's body
  void close_frame_sent();
  void write_failed();

  // Queues a close frame; the writer sends it and then ends the connection.
  void close(std::uint16_t code, std::string_view reason, bool drain);
  void close(Disconnect why, bool drain);
  // The peer broke the protocol, or its input could not be taken in: close with `code`, drop its input.
  void refuse_input(Disconnect why);
  // Ends the connection now, without a close frame (dead peer, timeouts).
  void drop(std::string_view why);
  void log_close();

  asio::ip::tcp::socket socket_;
  Worker& worker_;
  const config::Config& config_;
  std::shared_ptr<Room> room_;
  std::optional<std::uint64_t> since_;  // for the join
  std::string epoch_;
  std::string peer_;
  std::string pending_input_;  // bytes received with the handshake, parsed first
  protocol::FrameReader reader_;
  std::vector<protocol::IncomingMessage> messages_;  // parsed, not yet handled
  std::vector<std::string> outgoing_;                // texts with a token, not yet sent to the room
  TokenBucket bucket_;

  std::vector<SharedFrame> batch_;                 // frames being written
  std::vector<asio::const_buffer> batch_buffers_;  // what of them is not written yet
  bool batch_ends_with_close_ = false;
  bool writing_async_ = false;                 // write_loop() owns the writing
  asio::steady_timer* writer_done_ = nullptr;  // set while finish() waits for write_loop()

  Clock::time_point last_received_;
  Clock::time_point last_ping_;
  Clock::time_point write_started_{};  // epoch when no asynchronous write is in flight
  Clock::time_point close_sent_{};     // epoch until our close frame is written
  bool peer_close_received_ = false;   // the peer sent its close frame
  std::uint16_t peer_close_code_ = 0;
  bool reader_failed_ = false;  // the peer broke the protocol: its bytes are discarded
  bool reading_ended_ = false;
  asio::steady_timer* throttle_timer_ = nullptr;  // set while the read loop waits for a publish token
  std::string_view drop_reason_;  // why the connection ended without a close handshake (disconnect::)
};

}  // namespace chatd
