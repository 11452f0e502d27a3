#include "server/transport/websocket_input.hpp"

#include <asio/this_coro.hpp>

#include "protocol/frame_builder.hpp"
#include "server/core/use_nothrow_awaitable.hpp"

namespace chatd {

WebSocketInput::WebSocketInput(Owner& owner, Subscriber& subscriber, const config::Config& config,
                               Clock::time_point now)
    : owner_(owner),
      subscriber_(subscriber),
      reader_(config.limits.max_message_size),
      bucket_(config.publish.rate, config.publish.burst, now) {}

void WebSocketInput::parse(std::uint8_t* data, std::size_t size) {
  if (refused_) return;
  while (size > 0) {
    std::size_t used = 0;
    const auto status = reader_.feed(data, size, used);
    data += used;
    size -= used;
    if (status == protocol::FrameReader::Status::message) {
      messages_.push_back(reader_.take_message());
    } else if (status == protocol::FrameReader::Status::error) {
      refuse(Disconnect{reader_.error_code(), reader_.error_reason()});
      return;
    }
  }
  reader_.release_if_idle();
}

// ---- the two loops ------------------------------------------------------------------------------------

WebSocketInput::Next WebSocketInput::handle_now(Clock::time_point now) {
  for (; next_ < messages_.size(); ++next_) {
    auto& message = messages_[next_];
    const Need need = need_of(message);
    if (need == Need::nothing) continue;
    if (need == Need::token && bucket_.try_take(now) != Clock::duration::zero()) return Next::wait;
    if (need == Need::batch_sent && !batch_.empty() && !try_publish_batch()) return Next::wait;
    if (!take(message)) {
      discard();
      return Next::stop;
    }
  }
  if (!batch_.empty() && !try_publish_batch()) return Next::wait;  // the inbox is full
  discard();
  return Next::read_more;
}

asio::awaitable<bool> WebSocketInput::handle_waiting(Now now) {
  for (; next_ < messages_.size(); ++next_) {
    auto& message = messages_[next_];
    const Need need = need_of(message);
    if (need == Need::nothing) continue;
    if (need == Need::token) {
      // Back-pressure, not refusal: reading waits for a token, so nothing the client sent is lost.
      const auto wait = bucket_.reserve(now());
      if (wait > Clock::duration::zero()) {
        if (!batch_.empty()) {
          auto publishing = publish_batch();
          co_await std::move(publishing);
        }
        auto throttling = throttle(wait);
        co_await std::move(throttling);
        if (stopped_) break;
      }
    } else if (!batch_.empty()) {
      auto publishing = publish_batch();
      co_await std::move(publishing);
    }
    if (!take(message)) break;
  }
  const bool read_more = next_ == messages_.size();
  if (read_more && !batch_.empty()) {
    auto publishing = publish_batch();
    co_await std::move(publishing);
  }
  discard();
  co_return read_more;
}

// ---- the step they share --------------------------------------------------------------------------------

// Nothing is published once we are closing, and an empty message publishes nothing.
WebSocketInput::Need WebSocketInput::need_of(const protocol::IncomingMessage& message) {
  if (message.kind != Kind::text) return Need::batch_sent;
  if (read_only_) {
    refuse(disconnect::read_only);
    return Need::nothing;
  }
  return message.payload.empty() || subscriber_.queue().closed() ? Need::nothing : Need::token;
}

bool WebSocketInput::take(protocol::IncomingMessage& message) {
  if (message.kind != Kind::text) return handle_control(message);
  batch_.push_back(std::move(message.payload));
  return true;
}

bool WebSocketInput::handle_control(protocol::IncomingMessage& message) {
  switch (message.kind) {
    case Kind::text:
      return true;  // take() batches texts
    case Kind::binary:
      refuse(disconnect::binary_unsupported);
      return true;
    case Kind::ping:
      // Coalesced: a pong still queued gives way to this one (RFC 6455 5.5.3), so a peer that floods
      // pings and never reads is owed one pong, not one per ping (OutboundQueue::push_pong).
      if (subscriber_.queue().push_pong(protocol::share(protocol::pong_frame(message.payload))))
        subscriber_.wake_writer();
      return true;
    case Kind::pong:
      return true;
    case Kind::close: {
      const auto payload = protocol::parse_close_payload(message.payload);
      peer_close_code_ = payload.code;
      if (!payload.valid) {
        subscriber_.close(payload.error_code == protocol::close_code::invalid_payload
                              ? disconnect::invalid_close_reason
                              : disconnect::invalid_close_frame,
                          false);
      } else {
        // Echo the peer's code, with no reason (RFC 6455 5.5.1); no-op if our own close went first.
        const Disconnect echo{
            payload.code == protocol::close_code::no_status ? protocol::close_code::normal : payload.code,
            ""};
        subscriber_.close(echo, true);
      }
      return false;
    }
  }
  return true;
}

// ---- refusing and stopping ------------------------------------------------------------------------------

void WebSocketInput::refuse(Disconnect why) {
  refused_ = true;
  subscriber_.close(why, false);
}

void WebSocketInput::discard() {
  messages_.clear();
  next_ = 0;
}

void WebSocketInput::stop() {
  stopped_ = true;
  if (throttle_timer_) throttle_timer_->cancel();
}

// ---- to the room ----------------------------------------------------------------------------------------

// Everything one read brought goes to the room as one batch: consecutive ids, one fan-out, and so one
// gather write per subscriber instead of one per message.
RoomCommand WebSocketInput::batch_command() {
  PublishMessages command{owner_.author(), subscriber_.name(), {}, nullptr};
  command.texts.swap(batch_);
  return command;
}

bool WebSocketInput::try_publish_batch() {
  RoomCommand command = batch_command();
  if (owner_.try_send(command)) return true;
  batch_.swap(std::get<PublishMessages>(command).texts);  // the inbox is full: handle_waiting() waits
  return false;
}

asio::awaitable<void> WebSocketInput::publish_batch() {
  RoomCommand command = batch_command();
  // A named local, then co_await std::move(x): g++ 12 miscompiles temporaries built inside co_await.
  auto sending = owner_.send(std::move(command));
  co_await std::move(sending);
}

asio::awaitable<void> WebSocketInput::throttle(Clock::duration wait) {
  // A named local, not a temporary inside the constructor's co_await (the g++ 12 rule above).
  const auto executor = co_await asio::this_coro::executor;
  asio::steady_timer timer(executor, wait);
  throttle_timer_ = &timer;
  co_await timer.async_wait(use_nothrow_awaitable);
  throttle_timer_ = nullptr;
}

}  // namespace chatd
