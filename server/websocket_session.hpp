// One WebSocket connection after the handshake: a read loop that publishes what the client sends,
// and a write loop that drains the connection's outbound queue in gather writes.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include "protocol/frame_reader.hpp"
#include "server/room.hpp"
#include "server/server_context.hpp"
#include "server/subscriber.hpp"
#include "server/token_bucket.hpp"

namespace chatd {

class WebSocketSession : public Subscriber, public std::enable_shared_from_this<WebSocketSession> {
 public:
  struct Options {
    std::shared_ptr<Room> room;
    std::string name;
    EventFormat format = EventFormat::json;
    std::string peer;           // "address:port", for logs
    std::string initial_bytes;  // frames that arrived with the handshake
    std::string handshake_response;
  };

  WebSocketSession(asio::ip::tcp::socket socket, Worker& worker, const ServerContext& context,
                   Options options);

  // Joins the room, answers the handshake, runs both loops, leaves the room.
  asio::awaitable<void> run();
  asio::any_io_executor executor() { return socket_.get_executor(); }

  // Worker thread only.
  void tick(std::chrono::steady_clock::time_point now);
  void close_going_away();

 private:
  using Clock = std::chrono::steady_clock;

  asio::awaitable<void> read_loop();
  asio::awaitable<void> write_loop();
  // Parses `size` bytes into messages_; false once the peer broke the protocol.
  bool parse(std::uint8_t* data, std::size_t size);
  // False when reading should stop.
  // Publishes what was parsed, in batches, and answers control frames. False when reading should stop.
  asio::awaitable<bool> handle_messages();
  asio::awaitable<bool> handle_control(protocol::IncomingMessage& message);
  asio::awaitable<void> throttle(Clock::duration wait);
  asio::awaitable<void> publish_outgoing();
  // Queues a close frame; the write loop sends it and ends the connection.
  void close(std::uint16_t code, std::string_view reason, bool drain);
  // Ends the connection now, without a close frame (dead peer, timeouts).
  void drop(const char* why);

  asio::ip::tcp::socket socket_;
  Worker& worker_;
  const ServerContext& context_;
  std::shared_ptr<Room> room_;
  std::string name_;
  std::string peer_;
  std::string pending_input_;  // bytes received with the handshake, parsed first
  std::string handshake_response_;
  protocol::FrameReader reader_;
  std::vector<protocol::IncomingMessage> messages_;  // parsed, not yet handled
  std::vector<std::string> outgoing_;                // texts with a token, not yet sent to the room
  TokenBucket bucket_;

  std::vector<SharedFrame> batch_;                 // frames being written
  std::vector<asio::const_buffer> batch_buffers_;  // the same, as one gather write

  Clock::time_point last_received_;
  Clock::time_point last_ping_;
  Clock::time_point write_started_{};  // epoch when no write is in flight
  Clock::time_point close_sent_{};     // epoch until our close frame is written
  bool peer_close_received_ = false;   // the peer sent its close frame
  std::uint16_t peer_close_code_ = 0;
  bool reader_failed_ = false;                    // the peer broke the protocol: its bytes are discarded
  asio::steady_timer* throttle_timer_ = nullptr;  // set while the read loop waits for a publish token
  const char* drop_reason_ = nullptr;             // why the connection ended without a close handshake
};

}  // namespace chatd
