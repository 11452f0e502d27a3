// What a WebSocket peer sends, from bytes to the room: frames are parsed, each text waits for a publish
// token and joins the batch of what one read brought, and the batch goes to the room's inbox; control
// frames are answered in their place after the texts read before them.
// Two loops do this, side by side, over one per-message step (need_of, take): handle_now() never waits
// (an idle connection has no coroutine), and stops where waiting would be needed; handle_waiting(), a
// coroutine, goes on from there, suspending for tokens and inbox room. The loops differ only in how they
// wait, so they cannot drift apart (test/unit/transport/websocket_input_test.cpp feeds both the same frames).
// No socket: the connection passes bytes in, and the room is reached through Owner. Time is passed in, as
// to the token bucket: handle_now() gets the time of the read, handle_waiting() a clock (tests use a fake).
// Thread affinity: the connection's worker thread only, every member.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/steady_timer.hpp>

#include "config/config.hpp"
#include "protocol/frame_reader.hpp"
#include "server/core/disconnect.hpp"
#include "server/limits/token_bucket.hpp"
#include "server/rooms/room_command.hpp"
#include "server/rooms/subscriber.hpp"

namespace chatd {

class WebSocketInput {
 public:
  using Clock = std::chrono::steady_clock;
  using Now = Clock::time_point (*)();

  // The room, as the input reaches it: called once per batch published, never per message.
  class Owner {
   public:
    virtual ~Owner() = default;
    // The room's inbox, without waiting: false (and `command` untouched) when it is full or closed.
    virtual bool try_send(RoomCommand& command) = 0;
    // The room's inbox, suspending while it is full. False when the room is stopped.
    virtual asio::awaitable<bool> send(RoomCommand command) = 0;
    // The connection as its room knows it: the author of what it publishes.
    virtual std::shared_ptr<Subscriber> author() = 0;
  };

  // `subscriber` is the connection's own: its queue takes pongs and our close frame, and its name signs
  // what is published. Limits come from `config` (limits.max_message_size, publish.rate and burst); the
  // publish bucket starts full at `now`.
  WebSocketInput(Owner& owner, Subscriber& subscriber, const config::Config& config, Clock::time_point now);

  // Parses what the peer sent (`data` is scratch: unmasked in place). Ignored once input is refused.
  void parse(std::uint8_t* data, std::size_t size);

  enum class Next {
    read_more,  // everything parsed is handled: wait for more input
    wait,       // handling must wait (a token, inbox room): run handle_waiting()
    stop,       // the peer's close frame came: read no more
  };
  // Handles what was parsed, without waiting. `now`: when it was read (one time for all of one read's
  // messages: they arrived together).
  Next handle_now(Clock::time_point now);
  // Goes on from where handle_now() stopped, suspending for tokens and inbox room. False: read no more
  // (the peer's close, or stop()). Runs on the connection's executor; `now` tells the time after each wait.
  asio::awaitable<bool> handle_waiting(Now now = &Clock::now);

  // The peer broke the protocol, or its input could not be taken in: close with `why`; what it sends from
  // now on is read and discarded, waiting for its close frame.
  void refuse(Disconnect why);
  // The connection's token may not publish (publish: false): its first message closes it with
  // disconnect::read_only, and nothing it sent is published.
  void set_read_only() { read_only_ = true; }
  // Forgets what was parsed and not handled (handling threw).
  void discard();
  // The connection is dropped: a wait for a token ends now, and handle_waiting() with it.
  void stop();

  // handle_waiting() is holding back the peer's messages for a token: the peer is alive.
  bool throttled() const { return throttle_timer_ != nullptr; }
  // The code of the peer's close frame, once it came (1005: it had none).
  std::optional<std::uint16_t> peer_close_code() const { return peer_close_code_; }

 private:
  using Kind = protocol::IncomingMessage::Kind;
  // The per-message step both loops share. What handling a message needs first:
  enum class Need {
    nothing,     // it publishes nothing: skip it
    token,       // a text to publish: a publish token
    batch_sent,  // a control frame: the texts read before it sent first, so it keeps its place
  };
  Need need_of(const protocol::IncomingMessage& message);
  // Handles a message once it has what it needs. False: read no more.
  bool take(protocol::IncomingMessage& message);
  bool handle_control(protocol::IncomingMessage& message);

  RoomCommand batch_command();
  bool try_publish_batch();
  asio::awaitable<void> publish_batch();
  asio::awaitable<void> throttle(Clock::duration wait);

  Owner& owner_;
  Subscriber& subscriber_;
  protocol::FrameReader reader_;
  std::vector<protocol::IncomingMessage> messages_;  // parsed; from next_ on not yet handled
  std::size_t next_ = 0;
  std::vector<std::string> batch_;  // texts with a token, not yet sent to the room
  TokenBucket bucket_;
  asio::steady_timer* throttle_timer_ = nullptr;  // set while handle_waiting() waits for a token
  std::optional<std::uint16_t> peer_close_code_;
  bool refused_ = false;  // the peer's bytes are discarded
  bool read_only_ = false;
  bool stopped_ = false;
};

}  // namespace chatd
