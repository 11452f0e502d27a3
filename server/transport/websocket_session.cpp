#include "server/transport/websocket_session.hpp"

#include <array>
#include <sstream>

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "server/core/disconnect.hpp"
#include "server/core/log.hpp"
#include "server/core/report_exception.hpp"
#include "server/net/gather_send.hpp"

namespace chatd {

namespace {

using asio::use_awaitable;
using asio::experimental::as_tuple;
using Kind = protocol::IncomingMessage::Kind;

// How long we wait for the peer's close frame after sending ours. Short, so shutdown finishes in 2 s.
constexpr auto close_timeout = std::chrono::seconds(1);

const SharedFrame& ping() {
  static const SharedFrame frame = protocol::share(protocol::ping_frame());
  return frame;
}

}  // namespace

WebSocketSession::WebSocketSession(asio::ip::tcp::socket socket, Worker& worker, const config::Config& config,
                                   Options options)
    : Subscriber(config.subscriber.queue, options.format, std::move(options.name), options.presence_events),
      socket_(std::move(socket)),
      worker_(worker),
      config_(config),
      room_(std::move(options.room)),
      since_(options.since),
      epoch_(std::move(options.epoch)),
      peer_(std::move(options.peer)),
      pending_input_(std::move(options.initial_bytes)),
      reader_(config.limits.max_message_size),
      bucket_(config.publish.rate, config.publish.burst, Clock::now()) {}

asio::awaitable<bool> WebSocketSession::start(std::string handshake_response) {
  worker_.add(this);
  last_received_ = last_ping_ = Clock::now();
  // Join before answering: a client that has seen 101 is in the room, so whatever anyone
  // publishes after that reaches it.
  RoomCommand join = JoinRoom{shared_from_this(), since_, std::move(epoch_)};
  auto joining = room_->send(std::move(join));
  if (!(co_await std::move(joining))) co_return false;
  auto [ec, written] =
      co_await asio::async_write(socket_, asio::buffer(handshake_response), as_tuple(use_awaitable));
  if (ec) co_return false;
  log::info("open peer=", peer_, " room=", room_->name(), " name=", name(),
            " format=", format_info(format()).name);
  socket_.non_blocking(true, ec);
  co_return true;
}

asio::awaitable<void> WebSocketSession::finish() {
  auto self = shared_from_this();  // the room lets go of us when it handles our leave, below
  // The read loop is over. If we still owe the peer the answer to its close frame, write it first.
  if (peer_close_received_ && close_sent_ == Clock::time_point{} && !queue().aborted()) {
    if (writing_async_) {
      asio::steady_timer done(socket_.get_executor(), asio::steady_timer::time_point::max());
      writer_done_ = &done;
      co_await done.async_wait(as_tuple(use_awaitable));
      writer_done_ = nullptr;
    } else if (write_now() == WriteStep::blocked) {
      writing_async_ = true;
      co_await write_loop();
    }
  }
  queue().abort();
  asio::error_code ignored;
  socket_.close(ignored);

  RoomCommand leave = LeaveRoom{self};
  auto leaving = room_->send(std::move(leave));
  co_await std::move(leaving);
  worker_.remove(this);
  log_close();
}

void WebSocketSession::log_close() {
  if (!log::enabled(log::Level::info)) return;
  // One line per connection: our close code and reason (or the peer's), and how TCP ended if not cleanly.
  std::ostringstream line;
  line << "close peer=" << peer_ << " room=" << room_->name() << " name=" << name();
  if (const auto code = queue().close_code())
    line << " code=" << code << " reason=\"" << queue().close_reason() << "\"";
  if (peer_close_received_) line << " peer_code=" << peer_close_code_;
  if (!drop_reason_.empty()) line << " ended=\"" << drop_reason_ << "\"";
  log::write(log::Level::info, line.view());
}

// ---- reading ----------------------------------------------------------------------------------------

void WebSocketSession::begin_reading() {
  if (pending_input_.empty()) return wait_for_input();
  try {
    std::string input = std::move(pending_input_);
    parse(reinterpret_cast<std::uint8_t*>(input.data()), input.size());
    handle_input();
  } catch (const std::exception& error) {
    input_failed(error);
  }
}

void WebSocketSession::wait_for_input() {
  // A plain handler, not a coroutine: an idle connection holds this one pending operation and no frame.
  socket_.async_wait(asio::ip::tcp::socket::wait_read,
                     [self = shared_from_this()](asio::error_code ec) { self->on_readable(ec); });
}

void WebSocketSession::on_readable(asio::error_code ec) {
  try {
    if (ec || !read_available()) return end_reading();
    handle_input();
  } catch (const std::exception& error) {
    input_failed(error);
  }
}

// What the peer sent could not be taken in: memory ran out (a message as large as limits allow, under a
// memory limit, most likely). This connection alone ends, with 1011, and its input is dropped.
void WebSocketSession::input_failed(const std::exception& error) {
  log::error("peer=", peer_, " room=", room_->name(), ": input failed: ", error.what());
  messages_.clear();
  refuse_input(disconnect::out_of_memory);
  wait_for_input();  // for the peer's close frame, discarding the rest
}

void WebSocketSession::handle_input() {
  const Handled handled = handle_messages_now(0);
  if (handled.stop) {
    messages_.clear();
    return end_reading();
  }
  if (handled.next == messages_.size() && outgoing_.empty()) {
    messages_.clear();
    return wait_for_input();
  }
  // Something must wait (a token, room in the inbox): the read loop takes over from there.
  asio::co_spawn(socket_.get_executor(), read_loop(handled.next), report_exception("websocket reader"));
}

asio::awaitable<void> WebSocketSession::read_loop(std::size_t next) {
  auto self = shared_from_this();
  bool keep_reading = false;
  try {
    keep_reading = co_await handle_messages(next);
  } catch (const std::exception& error) {
    // Memory ran out while this connection's input waited: it ends, and leaves its room (finish()).
    log::error("peer=", peer_, " room=", room_->name(), ": input failed: ", error.what());
    drop(disconnect::input_out_of_memory);
  }
  messages_.clear();
  if (keep_reading && drop_reason_.empty()) {
    wait_for_input();
  } else {
    end_reading();
  }
}

void WebSocketSession::end_reading() {
  if (reading_ended_) return;
  reading_ended_ = true;
  asio::co_spawn(socket_.get_executor(), finish(), report_exception("websocket session"));
}

bool WebSocketSession::read_available() {
  thread_local std::array<std::uint8_t, 64 * 1024> buffer;
  asio::error_code ec;
  const std::size_t size = socket_.read_some(asio::buffer(buffer), ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) return true;
  if (ec) return false;  // end of stream or reset: the peer is gone
  last_received_ = Clock::now();
  if (!reader_failed_) parse(buffer.data(), size);
  return true;
}

void WebSocketSession::parse(std::uint8_t* data, std::size_t size) {
  while (size > 0) {
    std::size_t used = 0;
    const auto status = reader_.feed(data, size, used);
    data += used;
    size -= used;
    if (status == protocol::FrameReader::Status::message) {
      messages_.push_back(reader_.take_message());
    } else if (status == protocol::FrameReader::Status::error) {
      refuse_input(Disconnect{reader_.error_code(), reader_.error_reason()});
      return;
    }
  }
  reader_.release_if_idle();
}

// Nothing is published once we are closing, and an empty message publishes nothing.
bool WebSocketSession::publishable(const protocol::IncomingMessage& message) {
  return !message.payload.empty() && !queue().closed();
}

WebSocketSession::Handled WebSocketSession::handle_messages_now(std::size_t next) {
  for (; next < messages_.size(); ++next) {
    auto& message = messages_[next];
    if (message.kind == Kind::text) {
      if (!publishable(message)) continue;
      if (bucket_.try_take(Clock::now()) != Clock::duration::zero()) return {next, false};
      outgoing_.push_back(std::move(message.payload));
      continue;
    }
    // Control frames keep their place after the messages read before them.
    if (!outgoing_.empty() && !try_publish_outgoing()) return {next, false};
    if (!handle_control(message)) return {next + 1, true};
  }
  if (!outgoing_.empty()) try_publish_outgoing();
  return {next, false};
}

asio::awaitable<bool> WebSocketSession::handle_messages(std::size_t next) {
  for (; next < messages_.size(); ++next) {
    auto& message = messages_[next];
    if (message.kind == Kind::text) {
      if (!publishable(message)) continue;
      // Back-pressure, not refusal: reading waits for a token, so nothing the client sent is lost.
      const auto wait = bucket_.reserve(Clock::now());
      if (wait > Clock::duration::zero()) {
        if (!outgoing_.empty()) co_await publish_outgoing();
        co_await throttle(wait);
        if (!drop_reason_.empty()) co_return false;
      }
      outgoing_.push_back(std::move(message.payload));
      continue;
    }
    if (!outgoing_.empty()) co_await publish_outgoing();
    if (!handle_control(message)) co_return false;
  }
  if (!outgoing_.empty()) co_await publish_outgoing();
  co_return true;
}

bool WebSocketSession::handle_control(protocol::IncomingMessage& message) {
  switch (message.kind) {
    case Kind::text:
      return true;  // handled by handle_messages
    case Kind::binary:
      refuse_input(disconnect::binary_unsupported);
      return true;
    case Kind::ping:
      if (queue().push_control(protocol::share(protocol::pong_frame(message.payload)))) wake_writer();
      return true;
    case Kind::pong:
      return true;
    case Kind::close: {
      peer_close_received_ = true;
      const auto payload = protocol::parse_close_payload(message.payload);
      peer_close_code_ = payload.code;
      if (!payload.valid) {
        close(disconnect::invalid_close_frame, false);
      } else {
        // Echo the peer's code (RFC 6455 5.5.1); no-op if our own close went first.
        close(payload.code == protocol::close_code::no_status ? protocol::close_code::normal : payload.code,
              "", true);
      }
      return false;
    }
  }
  return true;
}

asio::awaitable<void> WebSocketSession::throttle(Clock::duration wait) {
  asio::steady_timer timer(socket_.get_executor(), wait);
  throttle_timer_ = &timer;
  co_await timer.async_wait(as_tuple(use_awaitable));
  throttle_timer_ = nullptr;
}

// Everything one read brought goes to the room as one batch: consecutive ids, one fan-out, and so one
// gather write per subscriber instead of one per message.
RoomCommand WebSocketSession::outgoing_command() {
  PublishMessages command{shared_from_this(), name(), {}, nullptr};
  command.texts.swap(outgoing_);
  return command;
}

bool WebSocketSession::try_publish_outgoing() {
  RoomCommand command = outgoing_command();
  if (room_->try_send(command)) return true;
  outgoing_.swap(std::get<PublishMessages>(command).texts);  // the inbox is full: the read loop waits
  return false;
}

asio::awaitable<void> WebSocketSession::publish_outgoing() {
  auto sending = room_->send(outgoing_command());
  co_await std::move(sending);
}

// ---- writing ----------------------------------------------------------------------------------------

void WebSocketSession::wake_writer() {
  worker_.schedule_flush(shared_from_this());
}

void WebSocketSession::flush() {
  if (writing_async_) return;  // the write loop will take what was queued
  try {
    if (write_now() == WriteStep::blocked) {
      writing_async_ = true;
      asio::co_spawn(socket_.get_executor(), write_loop(), report_exception("websocket writer"));
    }
  } catch (const std::exception& error) {
    // Out of memory while writing: this connection ends; the worker flushes its other sessions.
    log::error("peer=", peer_, " room=", room_->name(), ": write failed: ", error.what());
    drop(disconnect::write_out_of_memory);
  }
}

WebSocketSession::WriteStep WebSocketSession::write_now() {
  for (;;) {
    if (batch_buffers_.empty()) {
      if (!queue().take(batch_, batch_ends_with_close_)) return WriteStep::done;
      for (const auto& frame : batch_) batch_buffers_.emplace_back(frame->data(), frame->size());
    }
    // Everything queued goes out in one gather write; each message is still its own frame.
    asio::error_code ec;
    consume_front(batch_buffers_, send_available(socket_.native_handle(), batch_buffers_, ec));
    if (ec) {
      write_failed();
      return WriteStep::ended;
    }
    if (!batch_buffers_.empty()) return WriteStep::blocked;  // the socket is full
    batch_.clear();
    if (batch_ends_with_close_) {
      close_frame_sent();
      return WriteStep::ended;
    }
  }
}

// Runs only while the socket pushes back: writes the rest of the batch when the socket drains, then
// goes on until the queue is empty.
asio::awaitable<void> WebSocketSession::write_loop() {
  auto self = shared_from_this();
  try {
    co_await write_until_drained();
  } catch (const std::exception& error) {
    log::error("peer=", peer_, " room=", room_->name(), ": write failed: ", error.what());
    drop(disconnect::write_out_of_memory);
  }
  writing_async_ = false;
  if (writer_done_) writer_done_->cancel();
}

asio::awaitable<void> WebSocketSession::write_until_drained() {
  do {
    write_started_ = Clock::now();
    auto [ec, written] = co_await asio::async_write(socket_, batch_buffers_, as_tuple(use_awaitable));
    write_started_ = {};
    batch_buffers_.clear();
    batch_.clear();
    if (ec) {
      write_failed();
      break;
    }
    if (batch_ends_with_close_) {
      close_frame_sent();
      break;
    }
  } while (write_now() == WriteStep::blocked);
}

void WebSocketSession::close_frame_sent() {
  asio::error_code ec;
  if (peer_close_received_) {
    socket_.close(ec);  // handshake complete: the server closes TCP first (RFC 6455 7.1.1)
  } else {
    socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
    close_sent_ = Clock::now();  // the read loop waits for the peer's close frame
  }
}

void WebSocketSession::write_failed() {
  batch_buffers_.clear();
  batch_.clear();
  if (drop_reason_.empty() && !queue().aborted()) drop_reason_ = disconnect::write_failed;
  queue().abort();
  asio::error_code ignored;
  socket_.close(ignored);
}

// ---- closing and keepalive ----------------------------------------------------------------------------

void WebSocketSession::close(std::uint16_t code, std::string_view reason, bool drain) {
  if (queue().close(code, reason, drain)) wake_writer();
}

void WebSocketSession::close(Disconnect why, bool drain) {
  close(why.code, why.reason, drain);
}

void WebSocketSession::refuse_input(Disconnect why) {
  reader_failed_ = true;  // what the peer sends from now on is read and discarded, waiting for its close
  close(why, false);
}

void WebSocketSession::drop(std::string_view why) {
  if (drop_reason_.empty()) drop_reason_ = why;
  queue().abort();
  asio::error_code ignored;
  socket_.close(ignored);
  if (throttle_timer_) throttle_timer_->cancel();
}

void WebSocketSession::close_going_away() {
  close(disconnect::going_away, true);
}

void WebSocketSession::tick(Clock::time_point now) {
  if (!drop_reason_.empty()) return;
  const auto& settings = config_.subscriber;
  if (write_started_ != Clock::time_point{} && now - write_started_ > settings.write_timeout) {
    return drop(disconnect::write_timeout);
  }
  if (close_sent_ != Clock::time_point{} && now - close_sent_ > close_timeout) {
    return drop(disconnect::no_close_frame);
  }
  if (throttle_timer_) return;  // the read loop is holding back the peer's messages: it is alive
  const auto silent = now - last_received_;
  if (silent >= 2 * settings.ping_interval) return drop(disconnect::ping_timeout);
  if (silent >= settings.ping_interval && now - last_ping_ >= settings.ping_interval) {
    if (queue().push_control(ping())) wake_writer();
    last_ping_ = now;
  }
}

}  // namespace chatd
