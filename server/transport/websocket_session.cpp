#include "server/transport/websocket_session.hpp"

#include <array>
#include <sstream>

#include <asio/co_spawn.hpp>
#include <asio/write.hpp>

#include "server/core/log.hpp"
#include "server/core/report_exception.hpp"
#include "server/core/use_nothrow_awaitable.hpp"
#include "server/metrics/metrics.hpp"

namespace chatd {

namespace {

// How long we wait for the peer's close frame after sending ours. Short, so shutdown finishes in 2 s.
constexpr auto close_timeout = std::chrono::seconds(1);

const SharedFrame& ping() {
  static const SharedFrame frame = protocol::share(protocol::ping_frame());
  return frame;
}

}  // namespace

WebSocketSession::WebSocketSession(asio::ip::tcp::socket socket, Worker& worker, const config::Config& config,
                                   Options options)
    : Subscriber(config.subscriber.queue, options.format, std::move(options.name), options.presence_events,
                 config.subscriber.queue_bytes),
      socket_(std::move(socket)),
      worker_(worker),
      config_(config),
      room_(std::move(options.room)),
      peer_(std::move(options.peer)),
      connected_at_ms_(std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count()),
      opening_(std::make_unique<Opening>(
          Opening{options.since, std::move(options.epoch), std::move(options.initial_bytes)})),
      input_(*this, *this, config, Clock::now()),
      writer_(socket_, queue(), *this) {
  if (options.expires_at) access_ = SessionAccess::expiring(*options.expires_at);
  if (options.read_only) input_.set_read_only();
}

Subscriber::Description WebSocketSession::describe() const {
  return Description{peer_, "websocket", connected_at_ms_};
}

asio::awaitable<bool> WebSocketSession::start(std::string handshake_response) {
  worker_.add(this);
  last_received_ = last_ping_ = Clock::now();
  // Join before answering: a client that has seen 101 is in the room, so whatever anyone
  // publishes after that reaches it.
  RoomCommand join = JoinRoom{shared_from_this(), opening_->since, std::move(opening_->epoch)};
  auto joining = room_->send(std::move(join));
  if (!(co_await std::move(joining))) co_return false;
  // The join can queue frames (a replay, a `recovered`) and wake the writer before the 101 below is
  // written: with a room loaded once for many resumes (a reconnect storm on a cluster node), the load
  // ends on another thread and the worker's flush came first, so the client read a frame where the
  // HTTP answer belongs and failed the handshake. flush() holds back until answered_; we flush here.
  auto [ec, written] =
      co_await asio::async_write(socket_, asio::buffer(handshake_response), use_nothrow_awaitable);
  if (ec) co_return false;
  log::info("open peer=", peer_, " room=", room_->name(), " name=", name(),
            " format=", format_info(format()).name);
  socket_.non_blocking(true, ec);
  answered_ = true;
  wake_writer();  // what the join queued, and anything published since
  co_return true;
}

asio::awaitable<void> WebSocketSession::finish() {
  auto self = shared_from_this();  // the room lets go of us when it handles our leave, below
  // Reading is over. If we still owe the peer the answer to its close frame, write it first.
  if (input_.peer_close_code() && close_state_ == CloseState::open) {
    auto draining = writer_.drain();
    co_await std::move(draining);
  }
  if (close_state_ != CloseState::dropped) close_state_ = CloseState::closed;
  queue().abort();
  asio::error_code ignored;
  socket_.close(ignored);

  if (access_) access_->unwatch(this);

  RoomCommand leave = LeaveRoom{self};
  auto leaving = room_->send(std::move(leave));
  co_await std::move(leaving);
  worker_.remove(this);
  count_end();
  log_close();
}

void WebSocketSession::count_end() {
  if (const auto code = queue().close_code()) metrics::add(metrics::close_series(code));
  if (!drop_reason_.empty()) metrics::add(metrics::Series::drops);
}

void WebSocketSession::log_close() {
  if (!log::enabled(log::Level::info)) return;
  // One line per connection: our close code and reason (or the peer's), and how TCP ended if not cleanly.
  std::ostringstream line;
  line << "close peer=" << peer_ << " room=" << room_->name() << " name=" << name();
  if (const auto code = queue().close_code())
    line << " code=" << code << " reason=\"" << queue().close_reason() << "\"";
  if (const auto peer_code = input_.peer_close_code()) line << " peer_code=" << *peer_code;
  if (!drop_reason_.empty()) line << " ended=\"" << drop_reason_ << "\"";
  log::write(log::Level::info, line.view());
}

void WebSocketSession::log_failure(std::string_view what, const std::exception& error) {
  log::error("peer=", peer_, " room=", room_->name(), ": ", what, " failed: ", error.what());
}

// ---- reading ----------------------------------------------------------------------------------------

void WebSocketSession::begin_reading() {
  const auto opening = std::move(opening_);
  if (opening->initial_bytes.empty()) return wait_for_input();
  try {
    auto& input = opening->initial_bytes;
    input_.parse(reinterpret_cast<std::uint8_t*>(input.data()), input.size());
    handle_input(Clock::now());
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
    handle_input(last_received_);
  } catch (const std::exception& error) {
    input_failed(error);
  }
}

bool WebSocketSession::read_available() {
  thread_local std::array<std::uint8_t, 64 * 1024> buffer;
  asio::error_code ec;
  const std::size_t size = socket_.read_some(asio::buffer(buffer), ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) return true;
  if (ec) return false;  // end of stream or reset: the peer is gone
  last_received_ = Clock::now();
  input_.parse(buffer.data(), size);  // discarded by the input once it refused the peer's
  return true;
}

void WebSocketSession::handle_input(Clock::time_point now) {
  switch (input_.handle_now(now)) {
    case WebSocketInput::Next::read_more:
      return wait_for_input();
    case WebSocketInput::Next::stop:
      return end_reading();
    case WebSocketInput::Next::wait:
      // Something must wait (a token, room in the inbox): the read loop takes over from there.
      asio::co_spawn(
          socket_.get_executor(), [self = shared_from_this()] { return self->read_loop(); },
          report_exception("websocket reader"));
      return;
  }
}

asio::awaitable<void> WebSocketSession::read_loop() {
  bool keep_reading = false;
  try {
    auto handling = input_.handle_waiting();
    keep_reading = co_await std::move(handling);
  } catch (const std::exception& error) {
    // Memory ran out while this connection's input waited: it ends, and leaves its room (finish()).
    log_failure("input", error);
    input_.discard();
    drop(disconnect::input_out_of_memory);
  }
  if (keep_reading && close_state_ != CloseState::dropped) {
    wait_for_input();
  } else {
    end_reading();
  }
}

// What the peer sent could not be taken in: memory ran out (a message as large as limits allow, under a
// memory limit, most likely). This connection alone ends, with 1011, and its input is dropped.
void WebSocketSession::input_failed(const std::exception& error) {
  log_failure("input", error);
  input_.discard();
  input_.refuse(disconnect::out_of_memory);
  wait_for_input();  // for the peer's close frame, discarding the rest
}

// Reading is one chain: each step ends in exactly one of wait_for_input(), the read loop, or this, so
// finish() is spawned once.
void WebSocketSession::end_reading() {
  asio::co_spawn(
      socket_.get_executor(), [self = shared_from_this()] { return self->finish(); },
      report_exception("websocket session"));
}

// ---- writing ----------------------------------------------------------------------------------------

void WebSocketSession::wake_writer() {
  worker_.schedule_flush(shared_from_this());
}

void WebSocketSession::close_frame_written() {
  asio::error_code ec;
  if (input_.peer_close_code()) {
    socket_.close(ec);  // handshake complete: the server closes TCP first (RFC 6455 7.1.1)
    close_state_ = CloseState::closed;
  } else {
    socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
    close_sent_at_ = Clock::now();  // the peer's close frame is due: tick() keeps the deadline
    close_state_ = CloseState::close_sent;
  }
}

void WebSocketSession::write_failed() {
  // Once finish() let go of the connection, a write in flight fails because of it: not a drop.
  if (close_state_ == CloseState::closed) return;
  drop(disconnect::write_failed);
}

// Out of memory while writing: this connection ends; the worker flushes its other sessions.
void WebSocketSession::write_threw(const std::exception& error) {
  log_failure("write", error);
  drop(disconnect::write_out_of_memory);
}

// ---- closing and keepalive ----------------------------------------------------------------------------

void WebSocketSession::drop(std::string_view why) {
  if (close_state_ != CloseState::dropped) {
    close_state_ = CloseState::dropped;
    drop_reason_ = why;
  }
  queue().abort();
  asio::error_code ignored;
  socket_.close(ignored);
  input_.stop();
}

void WebSocketSession::close_going_away() {
  close(disconnect::going_away, true);
}

void WebSocketSession::tick(Clock::time_point now) {
  if (close_state_ == CloseState::dropped || close_state_ == CloseState::closed) return;
  // The client reconnects with a fresh token and since= to miss nothing. What is queued goes first; only
  // the first close counts.
  if (access_ && access_->expired(now)) close(disconnect::token_expired, true);
  const auto& settings = config_.subscriber;
  if (writer_.stalled_longer_than(now, settings.write_timeout)) {
    // docs/api.md, slow clients: a stalled write. One already closed as too slow is not counted again.
    if (!queue().close_code()) metrics::add(metrics::Series::slow_client_closes);
    return drop(disconnect::write_timeout);
  }
  if (close_state_ == CloseState::close_sent && now - close_sent_at_ > close_timeout) {
    return drop(disconnect::no_close_frame);
  }
  if (input_.throttled()) return;  // the input is holding back the peer's messages: it is alive
  const auto silent = now - last_received_;
  if (silent >= 2 * settings.ping_interval) return drop(disconnect::ping_timeout);
  if (silent >= settings.ping_interval && now - last_ping_ >= settings.ping_interval) {
    if (queue().push_control(ping())) wake_writer();
    last_ping_ = now;
  }
}

}  // namespace chatd
