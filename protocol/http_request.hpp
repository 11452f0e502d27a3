// Incremental reader for one HTTP/1.1 request, on websocketpp's http::parser.
// Adds what that parser lacks: a configurable header limit (431), Content-Length checks,
// a clear refusal of chunked bodies (411), and "Expect: 100-continue" detection.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace chatd::protocol {

namespace detail {
class RequestParser;
}

class HttpRequestReader {
 public:
  enum class State { reading_headers, reading_body, complete, failed };

  HttpRequestReader(std::size_t max_header_size, std::size_t max_body_size);
  ~HttpRequestReader();
  HttpRequestReader(const HttpRequestReader&) = delete;
  HttpRequestReader& operator=(const HttpRequestReader&) = delete;

  // Consumes bytes of this request and returns how many it used; bytes after the end of the request
  // (the next pipelined request, or WebSocket frames after a handshake) are left to the caller.
  std::size_t feed(std::string_view bytes);

  State state() const { return state_; }
  bool headers_complete() const { return state_ == State::reading_body || state_ == State::complete; }
  // After failure: the status to answer with (400, 411, 413, 431, 505) and why.
  int error_status() const { return error_status_; }
  const std::string& error_message() const { return error_message_; }

  // Valid once headers_complete().
  const std::string& method() const;
  const std::string& target() const;
  const std::string& version() const;
  const std::string& header(std::string_view name) const;  // "" when absent
  const std::string& body() const;
  bool keep_alive() const;
  bool expects_continue() const;  // the client waits for "100 Continue" before sending the body
  bool is_websocket_upgrade() const;

  const detail::RequestParser& parser() const { return *parser_; }

 private:
  void fail(int status, std::string message);
  void on_headers(std::string_view head);

  std::unique_ptr<detail::RequestParser> parser_;
  std::size_t max_header_size_;
  std::size_t max_body_size_;
  std::string head_;  // header bytes until the blank line is seen
  State state_ = State::reading_headers;
  int error_status_ = 0;
  std::string error_message_;
};

}  // namespace chatd::protocol
