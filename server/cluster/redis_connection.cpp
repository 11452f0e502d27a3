#include "server/cluster/redis_connection.hpp"

#include <array>
#include <utility>

#include <asio/co_spawn.hpp>
#include <asio/connect.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/write.hpp>

#include "server/core/log.hpp"
#include "server/core/report_exception.hpp"
#include "server/core/use_nothrow_awaitable.hpp"

namespace chatd::cluster {

RedisConnection::RedisConnection(asio::io_context& context, std::string what)
    : what_(std::move(what)),
      socket_(context),
      wake_writer_(context, Clock::time_point::max()),
      closed_signal_(context, Clock::time_point::max()) {}

RedisConnection::~RedisConnection() = default;

asio::awaitable<asio::error_code> RedisConnection::connect(const std::string& host, std::uint16_t port,
                                                           const std::string& password,
                                                           Clock::duration timeout) {
  auto self = shared_from_this();
  // One timer bounds the whole connect (resolve, TCP, AUTH): when it fires it closes the socket, which
  // ends whatever is waiting. Racing operations with `||` is avoided (docs/toolchain notes).
  bool timed_out = false;
  asio::steady_timer deadline(socket_.get_executor(), timeout);
  deadline.async_wait([this, self, &timed_out](asio::error_code ec) {
    if (ec) return;
    timed_out = true;
    asio::error_code ignored;
    socket_.close(ignored);
  });
  asio::ip::tcp::resolver resolver(socket_.get_executor());
  auto [resolve_error, endpoints] =
      co_await resolver.async_resolve(host, std::to_string(port), use_nothrow_awaitable);
  if (resolve_error || timed_out) {
    deadline.cancel();
    co_return timed_out ? asio::error::timed_out : resolve_error;
  }
  auto [connect_error, endpoint] = co_await asio::async_connect(socket_, endpoints, use_nothrow_awaitable);
  if (connect_error || timed_out) {
    deadline.cancel();
    co_return timed_out ? asio::error::timed_out : connect_error;
  }
  asio::error_code ignored;
  socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
  open_ = true;
  asio::co_spawn(
      socket_.get_executor(), [self] { return self->write_loop(); }, report_exception("redis writer"));
  asio::co_spawn(
      socket_.get_executor(), [self] { return self->read_loop(); }, report_exception("redis reader"));
  if (!password.empty()) {
    const std::array<std::string_view, 2> auth{"AUTH", password};
    auto [ec, reply] = co_await call(auth);
    if (!ec && reply.is_error()) {
      log::error("cluster: Redis refused the password (cluster.redis.password_file): ", reply.text);
      ec = asio::error::access_denied;
    }
    if (ec) {
      deadline.cancel();
      close("AUTH failed");
      co_return timed_out ? asio::error::timed_out : ec;
    }
  }
  deadline.cancel();
  co_return timed_out ? asio::error::timed_out : asio::error_code{};
}

void RedisConnection::send(std::span<const std::string_view> args, Handler handler) {
  if (!open_) {
    if (handler) {
      asio::post(socket_.get_executor(),
                 [handler = std::move(handler)] { handler(asio::error::not_connected, Reply{}); });
    }
    return;
  }
  protocol::resp::append_command(out_, args);
  if (!push_) unsent_.push_back(std::move(handler));
  wake_writer_.cancel();
}

asio::awaitable<std::pair<asio::error_code, Reply>> RedisConnection::call(
    std::span<const std::string_view> args) {
  struct Outcome {
    explicit Outcome(const asio::any_io_executor& executor) : done(executor, Clock::time_point::max()) {}
    asio::steady_timer done;
    bool answered = false;
    asio::error_code ec;
    Reply reply;
  };
  auto outcome = std::make_shared<Outcome>(socket_.get_executor());
  send(args, [outcome](asio::error_code ec, Reply reply) {
    outcome->ec = ec;
    outcome->reply = std::move(reply);
    outcome->answered = true;
    outcome->done.cancel();
  });
  while (!outcome->answered) co_await outcome->done.async_wait(use_nothrow_awaitable);
  co_return std::pair{outcome->ec, std::move(outcome->reply)};
}

asio::awaitable<void> RedisConnection::write_loop() {
  auto self = shared_from_this();
  std::string writing;
  while (open_) {
    if (out_.empty()) {
      co_await wake_writer_.async_wait(use_nothrow_awaitable);
      continue;
    }
    // Everything queued goes in one write: a pipeline of many commands costs one system call.
    writing.clear();
    writing.swap(out_);
    const auto now = Clock::now();
    while (!unsent_.empty()) {
      awaiting_.push_back(Awaited{std::move(unsent_.front()), now});
      unsent_.pop_front();
    }
    auto [ec, written] = co_await asio::async_write(socket_, asio::buffer(writing), use_nothrow_awaitable);
    if (ec) {
      close("write failed: " + ec.message());
      break;
    }
  }
}

asio::awaitable<void> RedisConnection::read_loop() {
  auto self = shared_from_this();
  std::array<char, 16384> buffer;
  while (open_) {
    auto [ec, read] = co_await socket_.async_read_some(asio::buffer(buffer), use_nothrow_awaitable);
    if (ec) {
      close(ec == asio::error::eof ? "Redis closed the connection" : "read failed: " + ec.message());
      break;
    }
    try {
      reader_.feed(buffer.data(), read);
      while (open_) {
        auto reply = reader_.next();
        if (!reply) break;
        if (push_) {
          push_(*reply);
          continue;
        }
        if (awaiting_.empty()) {
          close("a reply no command asked for");
          break;
        }
        auto handler = std::move(awaiting_.front().handler);
        awaiting_.pop_front();
        if (handler) handler(asio::error_code{}, std::move(*reply));
      }
    } catch (const protocol::resp::ProtocolError& error) {
      close(std::string("not RESP: ") + error.what());
    }
  }
}

void RedisConnection::close(std::string_view why) {
  if (!open_ && why_closed_.size()) return;
  const bool was_open = open_;
  open_ = false;
  if (why_closed_.empty()) why_closed_ = why;
  asio::error_code ignored;
  socket_.close(ignored);
  wake_writer_.cancel();
  closed_signal_.cancel();
  if (was_open) log::warn("cluster: Redis ", what_, " connection closed: ", why);
  fail_all();
}

void RedisConnection::fail_all() {
  // Taken out first: a handler may send again (and is told not_connected, later).
  auto awaiting = std::move(awaiting_);
  auto unsent = std::move(unsent_);
  awaiting_.clear();
  unsent_.clear();
  out_.clear();
  for (auto& waiting : awaiting) {
    if (waiting.handler) waiting.handler(asio::error::connection_reset, Reply{});
  }
  for (auto& handler : unsent) {
    if (handler) handler(asio::error::not_connected, Reply{});
  }
}

asio::awaitable<void> RedisConnection::wait_closed() {
  auto self = shared_from_this();
  while (open_) co_await closed_signal_.async_wait(use_nothrow_awaitable);
}

void RedisConnection::expire(Clock::time_point now, Clock::duration limit) {
  if (open_ && !awaiting_.empty() && now - awaiting_.front().written > limit)
    close("no reply for over " +
          std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(limit).count()) + " ms");
}

}  // namespace chatd::cluster
