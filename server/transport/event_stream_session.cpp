#include "server/transport/event_stream_session.hpp"

#include <array>
#include <sstream>

#include <asio/co_spawn.hpp>
#include <asio/write.hpp>

#include "protocol/event_stream.hpp"
#include "server/core/log.hpp"
#include "server/core/report_exception.hpp"
#include "server/core/use_nothrow_awaitable.hpp"
#include "server/metrics/metrics.hpp"

namespace chatd {

namespace {

// How long the reader has to close its end after our `close` event and FIN; then we close ours. Not at
// once: a close() with input unread makes the kernel send RST, which may discard at the reader what it
// has not read yet, the close event with it.
constexpr auto close_timeout = std::chrono::seconds(1);

const SharedFrame& keepalive() {
  static const SharedFrame comment = protocol::share(protocol::sse_comment("keepalive"));
  return comment;
}

}  // namespace

std::atomic<std::size_t> EventStreamSession::open_streams_{0};

EventStreamSession::EventStreamSession(asio::ip::tcp::socket socket, Worker& worker,
                                       const config::Config& config, SubscriberOptions options)
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
      resume_(std::make_unique<Resume>(Resume{options.since, std::move(options.epoch)})),
      writer_(socket_, queue(), *this) {
  if (options.expires_at) access_ = SessionAccess::expiring(*options.expires_at);
  open_streams_.fetch_add(1, std::memory_order_relaxed);
}

EventStreamSession::~EventStreamSession() {
  open_streams_.fetch_sub(1, std::memory_order_relaxed);
}

Subscriber::Description EventStreamSession::describe() const {
  return Description{peer_, "sse", connected_at_ms_};
}

asio::awaitable<bool> EventStreamSession::start(std::string response) {
  worker_.add(this);
  last_keepalive_ = Clock::now();
  // Joined before the head is written, as a WebSocket session joins before its 101: a reader that has
  // the 200 is in the room, and a resume's `recovered` and missed events come first in its queue.
  const auto resume = std::move(resume_);
  RoomCommand join = JoinRoom{shared_from_this(), resume->since, std::move(resume->epoch)};
  auto joining = room_->send(std::move(join));
  if (!(co_await std::move(joining))) co_return false;
  // The join may have woken the writer already (a replay): flush() holds back until answered_.
  auto [ec, written] = co_await asio::async_write(socket_, asio::buffer(response), use_nothrow_awaitable);
  if (ec) co_return false;
  metrics::add(metrics::Series::sent_bytes, written);
  log::info("open peer=", peer_, " room=", room_->name(), " name=", name(),
            " transport=sse format=", format_info(format()).name);
  socket_.non_blocking(true, ec);
  answered_ = true;
  wake_writer();  // what the join queued, and anything published since
  co_return true;
}

// ---- reading: nothing is expected, and the end of the reader's side ends the stream --------------------

void EventStreamSession::begin_reading() {
  wait_for_input();
}

void EventStreamSession::wait_for_input() {
  // A plain handler, not a coroutine: an idle stream holds this one pending operation and no frame.
  socket_.async_wait(asio::ip::tcp::socket::wait_read,
                     [self = shared_from_this()](asio::error_code ec) { self->on_readable(ec); });
}

void EventStreamSession::on_readable(asio::error_code ec) {
  if (ec) return end_reading();  // drop() closed the socket, or the connection failed
  // Whatever the reader sends after its request (a pipelined request, which the stream never answers)
  // is read and dropped: it costs this thread a read, never memory.
  thread_local std::array<char, 16 * 1024> discard;
  const std::size_t size = socket_.read_some(asio::buffer(discard), ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) return wait_for_input();
  if (ec || size == 0) return end_reading();  // the reader closed its end, or reset
  wait_for_input();
}

void EventStreamSession::end_reading() {
  asio::co_spawn(
      socket_.get_executor(), [self = shared_from_this()] { return self->finish(); },
      report_exception("event stream"));
}

asio::awaitable<void> EventStreamSession::finish() {
  auto self = shared_from_this();  // the room lets go of us when it handles our leave, below
  if (state_ != State::dropped) state_ = State::closed;
  queue().abort();
  asio::error_code ignored;
  socket_.close(ignored);
  if (access_) access_->unwatch(this);
  RoomCommand leave = LeaveRoom{self};
  auto leaving = room_->send(std::move(leave));
  co_await std::move(leaving);
  worker_.remove(this);
  log_close();
}

void EventStreamSession::log_close() {
  if (!log::enabled(log::Level::info)) return;
  std::ostringstream line;
  line << "close peer=" << peer_ << " room=" << room_->name() << " name=" << name() << " transport=sse";
  if (const auto code = queue().close_code())
    line << " code=" << code << " reason=\"" << queue().close_reason() << "\"";
  if (!drop_reason_.empty()) line << " ended=\"" << drop_reason_ << "\"";
  log::write(log::Level::info, line.view());
}

// ---- writing --------------------------------------------------------------------------------------------

void EventStreamSession::wake_writer() {
  worker_.schedule_flush(shared_from_this());
}

SharedFrame EventStreamSession::close_frame(std::uint16_t code, std::string_view reason) {
  // The same codes as a WebSocket close (docs/api.md), so one client table serves both transports.
  return protocol::share(protocol::sse_event("", "close", protocol::sse_close_json(code, reason)));
}

void EventStreamSession::close_frame_written() {
  // The body ends with the connection (the head has no Content-Length): our FIN ends it, and the reader
  // closes its end in turn (tick() gives it close_timeout).
  asio::error_code ec;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  close_sent_at_ = Clock::now();
  state_ = State::close_sent;
}

void EventStreamSession::write_failed() {
  if (state_ == State::closed) return;  // finish() let go of the socket: not a drop
  drop(disconnect::write_failed);
}

void EventStreamSession::write_threw(const std::exception& error) {
  log::error("peer=", peer_, " room=", room_->name(), ": event stream write failed: ", error.what());
  drop(disconnect::write_out_of_memory);
}

// ---- closing and keepalive ------------------------------------------------------------------------------

void EventStreamSession::drop(std::string_view why) {
  if (state_ != State::dropped) {
    state_ = State::dropped;
    drop_reason_ = why;
  }
  queue().abort();
  asio::error_code ignored;
  socket_.close(ignored);  // the pending wait ends with an error: end_reading() then finishes
}

void EventStreamSession::close_going_away() {
  close(disconnect::going_away, true);
}

void EventStreamSession::tick(Clock::time_point now) {
  if (state_ == State::dropped || state_ == State::closed) return;
  if (access_ && access_->expired(now)) close(disconnect::token_expired, true);
  const auto& settings = config_.subscriber;
  if (writer_.stalled_longer_than(now, settings.write_timeout)) {
    // docs/api.md, slow clients: a stalled write. One already closed as too slow is not counted again.
    if (!queue().close_code()) metrics::add(metrics::Series::slow_client_closes);
    return drop(disconnect::write_timeout);
  }
  if (state_ == State::close_sent) {
    if (now - close_sent_at_ > close_timeout) drop(disconnect::reader_kept_open);
    return;
  }
  if (answered_ && now - last_keepalive_ >= settings.ping_interval) {
    if (queue().push_control(keepalive())) wake_writer();
    last_keepalive_ = now;
  }
}

}  // namespace chatd
