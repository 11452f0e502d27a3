#include "server/http/http_connection.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include <asio/co_spawn.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include "protocol/http_request.hpp"
#include "protocol/http_response.hpp"
#include "protocol/uri.hpp"
#include "server/core/log.hpp"
#include "server/core/report_exception.hpp"
#include "server/core/use_nothrow_awaitable.hpp"
#include "server/http/client_address.hpp"
#include "server/http/outcome.hpp"
#include "server/http/request.hpp"
#include "server/http/request_rules.hpp"
#include "server/http/router.hpp"
#include "server/transport/session.hpp"

namespace chatd {

namespace {

using namespace asio::experimental::awaitable_operators;
using protocol::error_response;
using protocol::HttpRequestReader;

using Clock = std::chrono::steady_clock;

// A connection that sends nothing between requests for this long is closed: it holds a socket and memory
// for nothing. Once a request's first byte is in, its deadlines are limits.header_timeout and body_timeout.
constexpr auto idle_timeout = std::chrono::seconds(60);

// The peer's address ("?" if the socket has no peer any more) and port.
std::pair<std::string, unsigned short> remote_endpoint(const asio::ip::tcp::socket& socket) {
  asio::error_code ec;
  const auto endpoint = socket.remote_endpoint(ec);
  if (ec) return {"?", 0};
  return {endpoint.address().to_string(), endpoint.port()};
}

// What a connection hands over when a request's route took it over (a WebSocket upgrade, an event stream).
struct Upgrade {
  std::shared_ptr<Session> session;
  std::string response;
};

class HttpConnection {
 public:
  HttpConnection(asio::ip::tcp::socket socket, Worker& worker, const ServerContext& context)
      : socket_(std::move(socket)), worker_(worker), context_(context) {
    auto [address, port] = remote_endpoint(socket_);
    peer_ = address + ":" + std::to_string(port);
    address_ = std::move(address);
  }

  // Serves requests until the connection closes, or returns the session a route handed it to.
  asio::awaitable<Upgrade> run();

 private:
  enum class ReadEnd { bytes, closed, deadline };
  struct Read {
    ReadEnd end;
    std::size_t size;
  };
  // Some bytes into buffer_, or why none came: the peer closed (or failed), or `deadline` passed.
  asio::awaitable<Read> read_some(Clock::time_point deadline);
  // All of `head` then `body` (one gather write: the body is not copied behind the head), or false: the
  // peer failed or took nothing for subscriber.write_timeout.
  asio::awaitable<bool> write(std::string_view head, std::string_view body = {});
  // An error response that closes the connection (a request that failed or missed its deadline).
  asio::awaitable<void> refuse(int status, const std::string& message);
  // The route's outcome for one complete request; `leftover` is what was read after it.
  asio::awaitable<Outcome> route(const HttpRequestReader& request, std::string_view leftover);

  asio::ip::tcp::socket socket_;
  Worker& worker_;
  const ServerContext& context_;
  std::string address_;  // the HTTP limiter's key
  std::string peer_;     // address:port, for logs
  std::array<char, 16 * 1024> buffer_;
  ReplyChannels replies_;  // made on first use, reused by keep-alive requests
};

asio::awaitable<HttpConnection::Read> HttpConnection::read_some(Clock::time_point deadline) {
  asio::steady_timer timer(socket_.get_executor(), deadline);
  auto reading = socket_.async_read_some(asio::buffer(buffer_), use_nothrow_awaitable);
  auto timing_out = timer.async_wait(use_nothrow_awaitable);
  auto result = co_await (std::move(reading) || std::move(timing_out));
  if (result.index() == 1) co_return Read{ReadEnd::deadline, 0};
  auto [ec, size] = std::get<0>(result);
  if (ec || size == 0) co_return Read{ReadEnd::closed, 0};
  co_return Read{ReadEnd::bytes, size};
}

// Each piece is raced against subscriber.write_timeout: a peer that takes no byte for that long (it does
// not read, and the kernel's buffers are full) is dropped, as a stalled WebSocket subscriber is. The response
// it would have pinned is freed with the connection. A timer, not a channel, so Asio 1.22's cancelled-receive
// bug (toolchain notes) does not apply.
asio::awaitable<bool> HttpConnection::write(std::string_view head, std::string_view body) {
  const auto timeout = context_.config.subscriber.write_timeout;
  while (!head.empty() || !body.empty()) {
    asio::steady_timer timer(socket_.get_executor(), timeout);
    const std::array<asio::const_buffer, 2> pieces{asio::buffer(head.data(), head.size()),
                                                   asio::buffer(body.data(), body.size())};
    auto writing = socket_.async_write_some(pieces, use_nothrow_awaitable);
    auto timing_out = timer.async_wait(use_nothrow_awaitable);
    auto result = co_await (std::move(writing) || std::move(timing_out));
    if (result.index() == 1) {
      log::debug("http write timeout peer=", peer_, " unsent=", head.size() + body.size());
      co_return false;
    }
    auto [ec, written] = std::get<0>(result);
    if (ec) co_return false;
    const std::size_t from_head = std::min(written, head.size());
    head.remove_prefix(from_head);
    body.remove_prefix(written - from_head);
  }
  co_return true;
}

asio::awaitable<void> HttpConnection::refuse(int status, const std::string& message) {
  auto response = error_response(status, message);
  response.close = true;
  log::debug("bad request peer=", peer_, " status=", status, " ", message);
  // Named, not built inside the co_await: g++ 12 miscompiles such temporaries (toolchain notes).
  const std::string bytes = protocol::serialize(response);
  co_await write(bytes);
}

asio::awaitable<Upgrade> HttpConnection::run() {
  const auto& limits = context_.config.limits;
  const std::size_t max_body = max_body_size(limits);
  std::string input;  // bytes received and not yet used by a request
  for (;;) {
    HttpRequestReader request(limits.max_header_size, max_body);
    bool continue_sent = false;
    // The deadlines of one request (docs/security.md): before its first byte, the idle timeout; from its
    // first byte, the whole head within limits.header_timeout, however the bytes trickle in (a byte does
    // not restart the clock, so a drip of bytes cannot hold the connection); from the end of the head, the
    // whole body within limits.body_timeout. A missed head or body deadline is 408 (RFC 9110 §15.5.9).
    Clock::time_point head_deadline{};
    Clock::time_point body_deadline{};
    if (!input.empty()) head_deadline = Clock::now() + limits.header_timeout;  // pipelined: it has begun
    std::size_t used = request.feed(input);
    while (request.state() == HttpRequestReader::State::reading_headers ||
           request.state() == HttpRequestReader::State::reading_body) {
      input.erase(0, used);
      const bool in_body = request.state() == HttpRequestReader::State::reading_body;
      if (in_body && body_deadline == Clock::time_point{}) body_deadline = Clock::now() + limits.body_timeout;
      if (request.expects_continue() && !continue_sent) {
        continue_sent = true;
        static const std::string continue_100 = "HTTP/1.1 100 Continue\r\n\r\n";
        if (!(co_await write(continue_100))) co_return Upgrade{};
      }
      const bool begun = head_deadline != Clock::time_point{};
      const auto deadline = in_body ? body_deadline : begun ? head_deadline : Clock::now() + idle_timeout;
      const auto read = co_await read_some(deadline);
      if (read.end == ReadEnd::closed) co_return Upgrade{};
      if (read.end == ReadEnd::deadline) {
        if (!begun) co_return Upgrade{};  // idle between requests: nothing is owed
        const std::string why = in_body ? "the request body did not arrive within limits.body_timeout"
                                        : "the request head did not arrive within limits.header_timeout";
        auto refusing = refuse(408, why);
        co_await std::move(refusing);
        co_return Upgrade{};
      }
      if (!begun) head_deadline = Clock::now() + limits.header_timeout;
      input.append(buffer_.data(), read.size);
      used = request.feed(input);
    }
    input.erase(0, used);

    if (request.state() == HttpRequestReader::State::failed) {
      auto refusing = refuse(request.error_status(), request.error_message());
      co_await std::move(refusing);
      co_return Upgrade{};
    }

    auto routing = route(request, input);
    Outcome outcome = co_await std::move(routing);
    if (outcome.session) co_return Upgrade{std::move(outcome.session), std::move(outcome.session_response)};
    const bool keep_alive = request.keep_alive() && !outcome.response.close;
    outcome.response.close = !keep_alive;
    // The head alone, and the body written from where it is: a large answer (a /history page) is held
    // once, not twice.
    const std::string head = protocol::serialize(outcome.response, true);
    const std::string_view body = request.method() == "HEAD" ? std::string_view{} : outcome.response.body;
    if (!(co_await write(head, body))) co_return Upgrade{};
    if (!keep_alive) {
      asio::error_code ignored;
      socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
      co_return Upgrade{};
    }
  }
}

asio::awaitable<Outcome> HttpConnection::route(const HttpRequestReader& request, std::string_view leftover) {
  const auto target = protocol::split_target(request.target());
  Outcome outcome;
  const Route* route = context_.router.route(target.path, request.method(), outcome.response);
  if (!route) co_return outcome;
  // Behind a trusted proxy, the client it names is who the limiters and logs see (per request: a proxy's
  // keep-alive connection carries many clients' requests).
  // Without one, nothing is copied: the request refers to the connection's own strings.
  const std::string* address = &address_;
  const std::string* peer = &peer_;
  std::string client_address, client_peer;
  if (auto client = forwarded_client(request, context_.config.server, address_)) {
    client_address = std::move(*client);
    client_peer = client_address + " via " + peer_;
    address = &client_address;
    peer = &client_peer;
  }
  Request routed{request, target, leftover, *peer, *address, socket_, replies_, worker_, context_, *route};
  auto handling = route->binding.handler(routed);
  outcome = co_await std::move(handling);
  co_return outcome;
}

// On the session's worker thread.
asio::awaitable<void> open_session(std::shared_ptr<Session> session, std::string response,
                                   std::shared_ptr<void> connection_slot) {
  auto starting = session->start(std::move(response));
  if (co_await std::move(starting)) {
    session->hold_until_destroyed(std::move(connection_slot));  // it outlives this coroutine
    session->begin_reading();  // from here the session keeps itself alive: this coroutine ends
  } else {
    auto finishing = session->finish();
    co_await std::move(finishing);
  }
}

}  // namespace

asio::awaitable<void> serve_http(asio::ip::tcp::socket socket, Worker& worker, const ServerContext& context,
                                 std::shared_ptr<void> connection_slot) {
  Upgrade upgrade;
  {
    auto connection = std::make_unique<HttpConnection>(std::move(socket), worker, context);
    auto serving = connection->run();
    upgrade = co_await std::move(serving);
  }  // the HTTP connection and its buffers are gone before the session, which may last for days
  if (!upgrade.session) co_return;
  Worker& home = upgrade.session->worker();
  auto opening =
      open_session(std::move(upgrade.session), std::move(upgrade.response), std::move(connection_slot));
  if (&home == &worker) {
    co_await std::move(opening);
  } else {
    // Placed on its room's worker (http/subscription.cpp, place_subscriber): it starts there.
    asio::co_spawn(home.context(), std::move(opening), report_exception("session"));
  }
}

}  // namespace chatd
