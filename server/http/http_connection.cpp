#include "server/http/http_connection.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <limits>
#include <optional>
#include <random>

#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "protocol/chat_json.hpp"
#include "protocol/http_request.hpp"
#include "protocol/http_response.hpp"
#include "protocol/publish_body.hpp"
#include "protocol/uri.hpp"
#include "protocol/utf8.hpp"
#include "protocol/websocket_handshake.hpp"
#include "server/core/log.hpp"
#include "server/transport/websocket_session.hpp"

namespace chatd {

namespace {

using asio::use_awaitable;
using asio::experimental::as_tuple;
using namespace asio::experimental::awaitable_operators;
using protocol::error_response;
using protocol::HttpRequestReader;
using protocol::HttpResponse;

// A connection that sends nothing for this long is closed: it holds a socket and memory for nothing.
constexpr auto idle_timeout = std::chrono::seconds(60);
constexpr std::size_t max_name_characters = 64;
// A worker that has not run its keepalive tick (every 250 ms at most) for this long is blocked or gone.
constexpr auto worker_stall_limit = std::chrono::seconds(5);
constexpr std::size_t default_history_limit = 100;
constexpr std::size_t max_history_limit = 1000;

// An event id, a limit: digits only, no sign, no overflow.
std::optional<std::uint64_t> parse_id(std::string_view text) {
  std::uint64_t value = 0;
  const char* end = text.data() + text.size();
  const auto [parsed_to, error] = std::from_chars(text.data(), end, value);
  if (text.empty() || error != std::errc{} || parsed_to != end) return std::nullopt;
  return value;
}

// The peer's address ("?" if the socket has no peer any more) and port.
std::pair<std::string, unsigned short> remote_endpoint(const asio::ip::tcp::socket& socket) {
  asio::error_code ec;
  const auto endpoint = socket.remote_endpoint(ec);
  if (ec) return {"?", 0};
  return {endpoint.address().to_string(), endpoint.port()};
}

std::string guest_name() {
  thread_local std::mt19937 random{std::random_device{}()};
  static constexpr char hex[] = "0123456789abcdef";
  std::string name = "guest-";
  for (int i = 0; i < 4; ++i) name.push_back(hex[random() % 16]);
  return name;
}

// Names: 1 to 64 characters of UTF-8, no control characters.
bool is_valid_name(std::string_view name) {
  if (name.empty() || !protocol::is_valid_utf8(name)) return false;
  std::size_t characters = 0;
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f) return false;
    if ((c & 0xC0) != 0x80) ++characters;
  }
  return characters <= max_name_characters;
}

HttpResponse method_not_allowed(std::string allowed) {
  auto response = error_response(405, "method not allowed");
  response.headers.emplace_back("Allow", std::move(allowed));
  return response;
}

// The room could not carry out the request (memory ran out); it goes on serving. A question may simply be
// asked again. A publish may have been recorded and delivered in part before memory ran out, so it is not
// invited back with Retry-After: a blind retry could repeat the message.
HttpResponse out_of_memory_reading() {
  auto response = error_response(503, "the server ran out of memory for this request; try again later");
  response.headers.emplace_back("Retry-After", "1");
  return response;
}
HttpResponse out_of_memory_publishing() {
  return error_response(
      503,
      "the server ran out of memory handling this message; it was not acknowledged, but may "
      "have reached some subscribers and the history");
}

// What one request turned into: a response to write, or a WebSocket session to hand over to.
struct Upgrade {
  std::shared_ptr<WebSocketSession> session;
  std::string handshake_response;
};

struct Outcome {
  HttpResponse response;
  std::shared_ptr<WebSocketSession> upgrade;
  std::string handshake_response;  // with `upgrade`: the 101 the session sends once it is in the room
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
  asio::awaitable<Outcome> route(const HttpRequestReader& request, std::string_view leftover);
  asio::awaitable<Outcome> subscribe(const HttpRequestReader& request, std::string_view query,
                                     std::string_view leftover);
  asio::awaitable<HttpResponse> publish(const HttpRequestReader& request, std::string_view query);
  // presence and history: a question the room answers with a JSON body.
  asio::awaitable<HttpResponse> ask_room(const HttpRequestReader& request, std::string_view query,
                                         bool history);
  HttpResponse health(const HttpRequestReader& request);
  HttpResponse static_file(const HttpRequestReader& request, std::string_view path);

  asio::ip::tcp::socket socket_;
  Worker& worker_;
  const ServerContext& context_;
  std::string address_;  // the HTTP limiter's key
  std::string peer_;     // address:port, for logs
  std::array<char, 16 * 1024> buffer_;
  std::shared_ptr<PublishReply> reply_;  // made on first publish, reused by keep-alive requests
  std::shared_ptr<QueryReply> answer_;   // the same, for presence and history
};

asio::awaitable<std::size_t> HttpConnection::read_some() {
  asio::steady_timer timer(socket_.get_executor(), idle_timeout);
  auto reading = socket_.async_read_some(asio::buffer(buffer_), as_tuple(use_awaitable));
  auto timing_out = timer.async_wait(as_tuple(use_awaitable));
  auto result = co_await (std::move(reading) || std::move(timing_out));
  if (result.index() == 1) co_return 0;  // idle too long
  auto [ec, size] = std::get<0>(result);
  co_return ec ? 0 : size;
}

asio::awaitable<bool> HttpConnection::write(const std::string& bytes) {
  auto [ec, written] = co_await asio::async_write(socket_, asio::buffer(bytes), as_tuple(use_awaitable));
  co_return !ec;
}

asio::awaitable<Upgrade> HttpConnection::run() {
  const auto& limits = context_.config.limits;
  // A JSON body may escape every byte of the text: leave room for that; the text itself is checked later.
  const std::size_t max_body = limits.max_message_size * 6 + 4096;
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
  const auto& routes = context_.config.routes;
  const auto target = protocol::split_target(request.target());
  Outcome outcome;
  if (target.path == routes.subscribe) {
    auto subscribing = subscribe(request, target.query, leftover);
    outcome = co_await std::move(subscribing);
  } else if (target.path == routes.publish) {
    auto publishing = publish(request, target.query);
    outcome.response = co_await std::move(publishing);
  } else if (target.path == routes.presence) {
    auto asking = ask_room(request, target.query, false);
    outcome.response = co_await std::move(asking);
  } else if (target.path == routes.history) {
    auto asking = ask_room(request, target.query, true);
    outcome.response = co_await std::move(asking);
  } else if (target.path == routes.health) {
    outcome.response = health(request);
  } else {
    outcome.response = static_file(request, target.path);
  }
  co_return outcome;
}

asio::awaitable<Outcome> HttpConnection::subscribe(const HttpRequestReader& request, std::string_view query,
                                                   std::string_view leftover) {
  Outcome outcome;
  auto handshake = protocol::accept_websocket(request);
  if (!handshake.accepted) {
    outcome.response = std::move(handshake.response);
    co_return outcome;
  }
  const auto& allowed = context_.config.subscriber.allowed_origins;
  const std::string& origin = request.header("Origin");
  if (!allowed.empty() && !origin.empty() &&
      std::find(allowed.begin(), allowed.end(), origin) == allowed.end()) {
    outcome.response = error_response(403, "Origin \"" + origin + "\" is not allowed");
    co_return outcome;
  }

  auto room_name = protocol::query_param(query, "room");
  auto name = protocol::query_param(query, "name");
  auto format = protocol::query_param(query, "format");
  auto presence = protocol::query_param(query, "presence");
  auto since = protocol::query_param(query, "since");
  auto epoch = protocol::query_param(query, "epoch");
  if (!room_name.valid || !name.valid || !format.valid || !presence.valid || !since.valid || !epoch.valid) {
    outcome.response = error_response(400, "malformed percent-encoding in the query");
    co_return outcome;
  }
  WebSocketSession::Options options;
  const auto named_format = event_format_named(format.present ? format.value : "json");
  if (!named_format) {
    outcome.response = error_response(400, "format must be " + event_format_names());
    co_return outcome;
  }
  options.format = *named_format;
  if (presence.present && presence.value != "true" && presence.value != "false") {
    outcome.response = error_response(400, "presence must be true or false");
    co_return outcome;
  }
  options.presence_events = presence.value == "true";
  if (since.present) {
    options.since = parse_id(since.value);
    if (!options.since) {
      outcome.response = error_response(400, "since must be an event id (a whole number)");
      co_return outcome;
    }
    options.epoch = std::move(epoch.value);
  } else if (epoch.present) {
    outcome.response = error_response(400, "epoch is given only with since");
    co_return outcome;
  }
  if (name.present && !is_valid_name(name.value)) {
    outcome.response = error_response(400, "invalid name (1 to 64 characters, no control characters)");
    co_return outcome;
  }
  options.name = name.present ? std::move(name.value) : guest_name();
  auto finding =
      context_.rooms.find(room_name.present ? room_name.value : context_.config.rooms.default_room);
  auto lookup = co_await std::move(finding);
  if (!lookup.room) {
    outcome.response = error_response(lookup.status, lookup.error);
    co_return outcome;
  }
  options.room = std::move(lookup.room);
  options.peer = peer_;
  options.initial_bytes = std::string(leftover);
  outcome.handshake_response = protocol::serialize(handshake.response);
  outcome.upgrade =
      std::make_shared<WebSocketSession>(std::move(socket_), worker_, context_.config, std::move(options));
  co_return outcome;
}

asio::awaitable<HttpResponse> HttpConnection::publish(const HttpRequestReader& request,
                                                      std::string_view query) {
  if (request.method() != "POST") co_return method_not_allowed("POST");
  const auto& limits = context_.config.limits;
  if (request.body().size() > limits.max_message_size * 6 + 4096) {
    co_return error_response(413,
                             "message larger than " + std::to_string(limits.max_message_size) + " bytes");
  }
  auto parsed = protocol::parse_publish_body(request.header("Content-Type"), request.body());
  if (!parsed.body) co_return error_response(parsed.status, parsed.error);
  auto& body = *parsed.body;
  if (body.text.size() > limits.max_message_size) {
    co_return error_response(413,
                             "message larger than " + std::to_string(limits.max_message_size) + " bytes");
  }

  auto room_param = protocol::query_param(query, "room");
  auto name_param = protocol::query_param(query, "name");
  if (!room_param.valid || !name_param.valid) {
    co_return error_response(400, "malformed percent-encoding in the query");
  }
  std::string name = body.name            ? std::move(*body.name)
                     : name_param.present ? std::move(name_param.value)
                                          : "http";
  if (!is_valid_name(name))
    co_return error_response(400, "invalid name (1 to 64 characters, no control characters)");
  const std::string room_name = body.room            ? *body.room
                                : room_param.present ? room_param.value
                                                     : context_.config.rooms.default_room;
  auto finding = context_.rooms.find(room_name);
  auto lookup = co_await std::move(finding);
  if (!lookup.room) co_return error_response(lookup.status, lookup.error);

  const auto wait = context_.http_limiter.try_take(address_, TokenBucket::Clock::now());
  if (wait > TokenBucket::Clock::duration::zero()) {
    auto response = error_response(429, "publishing too fast: wait and retry");
    const auto seconds = std::chrono::ceil<std::chrono::seconds>(wait).count();
    response.headers.emplace_back("Retry-After", std::to_string(std::max<long long>(1, seconds)));
    co_return response;
  }

  if (!reply_) reply_ = std::make_shared<PublishReply>(socket_.get_executor(), 1);
  PublishMessages publish{nullptr, std::move(name), {}, reply_};
  publish.texts.push_back(std::move(body.text));
  RoomCommand command = std::move(publish);
  auto sending = lookup.room->send(std::move(command));
  if (!(co_await std::move(sending))) co_return error_response(503, "the room is shutting down");
  auto [ec, id] = co_await reply_->async_receive(as_tuple(use_awaitable));
  if (ec == asio::error::no_recovery) {
    co_return error_response(503, "message " + std::to_string(id) + " was delivered but could not be stored");
  }
  if (ec == asio::error::no_memory) co_return out_of_memory_publishing();
  if (ec) co_return error_response(503, "the room is shutting down");

  HttpResponse response;
  response.status = 202;
  response.content_type = "application/json";
  response.body = protocol::publish_ack_json(id, lookup.room->name());
  co_return response;
}

asio::awaitable<HttpResponse> HttpConnection::ask_room(const HttpRequestReader& request,
                                                       std::string_view query, bool history) {
  if (request.method() != "GET" && request.method() != "HEAD") co_return method_not_allowed("GET, HEAD");
  auto room_param = protocol::query_param(query, "room");
  auto limit_param = protocol::query_param(query, "limit");
  auto before_param = protocol::query_param(query, "before");
  if (!room_param.valid || !limit_param.valid || !before_param.valid) {
    co_return error_response(400, "malformed percent-encoding in the query");
  }
  HistoryQuery page{0, default_history_limit, nullptr};
  if (history) {
    if (limit_param.present) {
      const auto limit = parse_id(limit_param.value);
      if (!limit || *limit == 0) {
        co_return error_response(400, "limit must be a whole number from 1 to " +
                                          std::to_string(std::numeric_limits<std::uint64_t>::max()) +
                                          " (above " + std::to_string(max_history_limit) + " counts as " +
                                          std::to_string(max_history_limit) + ")");
      }
      page.limit = static_cast<std::size_t>(std::min<std::uint64_t>(*limit, max_history_limit));
    }
    if (before_param.present) {
      const auto before = parse_id(before_param.value);
      if (!before || *before == 0) co_return error_response(400, "before must be an event id (from 1)");
      page.before = *before;
    }
  }
  auto finding = context_.rooms.find_existing(room_param.present ? room_param.value
                                                                 : context_.config.rooms.default_room);
  auto lookup = co_await std::move(finding);
  if (!lookup.room) co_return error_response(lookup.status, lookup.error);

  if (!answer_) answer_ = std::make_shared<QueryReply>(socket_.get_executor(), 1);
  RoomCommand command;
  if (history) {
    page.answer = answer_;
    command = std::move(page);
  } else {
    command = PresenceQuery{answer_};
  }
  auto sending = lookup.room->send(std::move(command));
  if (!(co_await std::move(sending))) co_return error_response(503, "the room is shutting down");
  auto [ec, body] = co_await answer_->async_receive(as_tuple(use_awaitable));
  if (ec == asio::error::no_memory) co_return out_of_memory_reading();
  if (ec) co_return error_response(503, "the room is shutting down");
  HttpResponse response;
  response.content_type = "application/json";
  response.body = std::move(body);
  response.headers.emplace_back("Cache-Control", "no-store");
  co_return response;
}

HttpResponse HttpConnection::health(const HttpRequestReader& request) {
  if (request.method() != "GET" && request.method() != "HEAD") return method_not_allowed("GET, HEAD");
  // "ok" only if every worker is turning its event loop and every room's actor is running.
  std::string problems;
  for (const auto index :
       context_.workers.stalled_since(std::chrono::steady_clock::now() - worker_stall_limit)) {
    problems += "worker " + std::to_string(index) + ": its event loop has not run for over " +
                std::to_string(worker_stall_limit.count()) + " s\n";
  }
  for (const auto& room : context_.rooms.stopped_rooms()) problems += "room " + room + ": stopped\n";
  HttpResponse response;
  if (!problems.empty()) response.status = 503;
  response.body = problems.empty() ? "ok" : std::move(problems);
  response.headers.emplace_back("Cache-Control", "no-store");
  return response;
}

HttpResponse HttpConnection::static_file(const HttpRequestReader& request, std::string_view path) {
  const auto file = context_.static_files.load(path);
  if (!file) return error_response(404, "not found");
  if (request.method() != "GET" && request.method() != "HEAD") return method_not_allowed("GET, HEAD");
  HttpResponse response;
  response.content_type = file->content_type;
  response.body = std::move(file->body);
  response.headers.emplace_back("Cache-Control", "no-cache");
  response.headers.emplace_back("X-Content-Type-Options", "nosniff");
  return response;
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
