#include "server/http/http_connection.hpp"

#include <array>
#include <memory>
#include <string>
#include <utility>

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include "protocol/http_request.hpp"
#include "protocol/http_response.hpp"
#include "protocol/uri.hpp"
#include "server/core/log.hpp"
#include "server/core/use_nothrow_awaitable.hpp"
#include "server/http/outcome.hpp"
#include "server/http/request.hpp"
#include "server/http/request_rules.hpp"
#include "server/http/router.hpp"
#include "server/transport/websocket_session.hpp"

namespace chatd {

namespace {

using namespace asio::experimental::awaitable_operators;
using protocol::error_response;
using protocol::HttpRequestReader;

// A connection that sends nothing for this long is closed: it holds a socket and memory for nothing.
constexpr auto idle_timeout = std::chrono::seconds(60);

// The peer's address ("?" if the socket has no peer any more) and port.
std::pair<std::string, unsigned short> remote_endpoint(const asio::ip::tcp::socket& socket) {
  asio::error_code ec;
  const auto endpoint = socket.remote_endpoint(ec);
  if (ec) return {"?", 0};
  return {endpoint.address().to_string(), endpoint.port()};
}

// What a connection hands over when a request upgraded it to WebSocket.
struct Upgrade {
  std::shared_ptr<WebSocketSession> session;
  std::string handshake_response;
};

class HttpConnection {
 public:
  HttpConnection(asio::ip::tcp::socket socket, Worker& worker, const ServerContext& context)
      : socket_(std::move(socket)), worker_(worker), context_(context) {
    auto [address, port] = remote_endpoint(socket_);
    peer_ = address + ":" + std::to_string(port);
    address_ = std::move(address);
  }

  // Serves requests until the connection closes, or returns the WebSocket session it upgraded to.
  asio::awaitable<Upgrade> run();

 private:
  asio::awaitable<std::size_t> read_some();
  asio::awaitable<bool> write(const std::string& bytes);
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

asio::awaitable<std::size_t> HttpConnection::read_some() {
  asio::steady_timer timer(socket_.get_executor(), idle_timeout);
  auto reading = socket_.async_read_some(asio::buffer(buffer_), use_nothrow_awaitable);
  auto timing_out = timer.async_wait(use_nothrow_awaitable);
  auto result = co_await (std::move(reading) || std::move(timing_out));
  if (result.index() == 1) co_return 0;  // idle too long
  auto [ec, size] = std::get<0>(result);
  co_return ec ? 0 : size;
}

asio::awaitable<bool> HttpConnection::write(const std::string& bytes) {
  auto [ec, written] = co_await asio::async_write(socket_, asio::buffer(bytes), use_nothrow_awaitable);
  co_return !ec;
}

asio::awaitable<Upgrade> HttpConnection::run() {
  const auto& limits = context_.config.limits;
  const std::size_t max_body = max_body_size(limits);
  std::string input;  // bytes received and not yet used by a request
  for (;;) {
    HttpRequestReader request(limits.max_header_size, max_body);
    bool continue_sent = false;
    std::size_t used = request.feed(input);
    while (request.state() == HttpRequestReader::State::reading_headers ||
           request.state() == HttpRequestReader::State::reading_body) {
      input.erase(0, used);
      if (request.expects_continue() && !continue_sent) {
        continue_sent = true;
        static const std::string continue_100 = "HTTP/1.1 100 Continue\r\n\r\n";
        if (!(co_await write(continue_100))) co_return Upgrade{};
      }
      const std::size_t size = co_await read_some();
      if (size == 0) co_return Upgrade{};  // closed, failed, or idle
      input.append(buffer_.data(), size);
      used = request.feed(input);
    }
    input.erase(0, used);

    if (request.state() == HttpRequestReader::State::failed) {
      auto response = error_response(request.error_status(), request.error_message());
      response.close = true;
      log::debug("bad request peer=", peer_, " status=", request.error_status(), " ",
                 request.error_message());
      // Named, not built inside the co_await: g++ 12 miscompiles such temporaries (toolchain notes).
      const std::string bytes = protocol::serialize(response);
      co_await write(bytes);
      co_return Upgrade{};
    }

    auto routing = route(request, input);
    Outcome outcome = co_await std::move(routing);
    if (outcome.upgrade) co_return Upgrade{std::move(outcome.upgrade), std::move(outcome.handshake_response)};
    const bool keep_alive = request.keep_alive() && !outcome.response.close;
    outcome.response.close = !keep_alive;
    const std::string bytes = protocol::serialize(outcome.response, request.method() == "HEAD");
    if (!(co_await write(bytes))) co_return Upgrade{};
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
  Request routed{request, target, leftover, peer_, address_, socket_, replies_, worker_, context_, *route};
  auto handling = route->binding.handler(routed);
  outcome = co_await std::move(handling);
  co_return outcome;
}

}  // namespace

asio::awaitable<void> serve_http(asio::ip::tcp::socket socket, Worker& worker, const ServerContext& context) {
  Upgrade upgrade;
  {
    auto connection = std::make_unique<HttpConnection>(std::move(socket), worker, context);
    auto serving = connection->run();
    upgrade = co_await std::move(serving);
  }  // the HTTP connection and its buffers are gone before the WebSocket phase, which may last for days
  if (!upgrade.session) co_return;
  auto session = std::move(upgrade.session);
  auto starting = session->start(std::move(upgrade.handshake_response));
  if (co_await std::move(starting)) {
    session->begin_reading();  // from here the session keeps itself alive: this coroutine ends
  } else {
    auto finishing = session->finish();
    co_await std::move(finishing);
  }
}

}  // namespace chatd
