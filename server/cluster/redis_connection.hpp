// One connection to Redis: RESP over chatd's own Asio socket (hiredis only formats and parses,
// protocol/resp.hpp). Commands are pipelined: send() queues without waiting, one writer coroutine writes
// everything queued in one write, and replies are matched to their commands first in, first out (Redis
// answers in order). A connection in subscriber mode takes no FIFO replies: every reply is a push.
//
// Cluster thread only (the ClusterNode's io_context): nothing here locks.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include "protocol/resp.hpp"

namespace chatd::cluster {

using protocol::resp::Reply;

class RedisConnection : public std::enable_shared_from_this<RedisConnection> {
 public:
  // How a command ended. `ec`: none (the reply, which may be a Redis error), asio::error::not_connected
  // (never written: Redis never saw it), or asio::error::connection_reset / timed_out (written, and no
  // reply came: Redis may have run it).
  using Handler = std::function<void(asio::error_code ec, Reply reply)>;
  using PushHandler = std::function<void(Reply& push)>;
  using Clock = std::chrono::steady_clock;

  RedisConnection(asio::io_context& context, std::string what);
  ~RedisConnection();

  // Connects to host:port and, with a password, AUTHs, all within `timeout`. Once, on a new connection.
  asio::awaitable<asio::error_code> connect(const std::string& host, std::uint16_t port,
                                            const std::string& password, Clock::duration timeout);
  // Queues a command. `handler` runs once, on this thread, never from inside send(). In subscriber mode
  // pass none: the replies come to the push handler.
  void send(std::span<const std::string_view> args, Handler handler);
  // One command, awaited: its reply, or the error that ended it.
  asio::awaitable<std::pair<asio::error_code, Reply>> call(std::span<const std::string_view> args);
  // Subscriber mode: every reply from now on goes to `push`.
  void set_push_handler(PushHandler push) { push_ = std::move(push); }

  bool is_open() const { return open_; }
  // Closes; every command not answered gets its error (see Handler). Idempotent.
  void close(std::string_view why);
  // Until the connection closes.
  asio::awaitable<void> wait_closed();
  // Closes when the oldest command written has waited longer than `limit` for its reply: Redis is slow,
  // stopped, or the path to it black-holed (TCP would say nothing for minutes).
  void expire(Clock::time_point now, Clock::duration limit);

  const std::string& why_closed() const { return why_closed_; }

 private:
  asio::awaitable<void> write_loop();
  asio::awaitable<void> read_loop();
  void fail_all();

  struct Awaited {
    Handler handler;
    Clock::time_point written;
  };

  std::string what_;  // "command" or "subscriber", for logs
  asio::ip::tcp::socket socket_;
  asio::steady_timer wake_writer_;
  asio::steady_timer closed_signal_;
  bool open_ = false;
  std::string why_closed_;
  std::string out_;               // formatted, not yet written
  std::deque<Handler> unsent_;    // one per command in out_ (empty ones in subscriber mode)
  std::deque<Awaited> awaiting_;  // written, in order
  PushHandler push_;
  protocol::resp::Reader reader_;
};

}  // namespace chatd::cluster
