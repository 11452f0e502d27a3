// Incremental reader for one HTTP/1.1 request, on websocketpp's http::parser.
// Adds what that parser lacks: a configurable header limit (431), strict RFC 9112 framing of the head
// (CRLF only, no obs-fold, token field names, no whitespace before the colon, no control characters, one
// Host, a plain Content-Length: 400), a refusal of Transfer-Encoding (501; with Content-Length too, 400),
// and "Expect: 100-continue" detection. docs/api.md lists the rules.
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
  // After failure: the status to answer with (400, 413, 431, 501, 505) and why. Every failure means the
  // framing of what follows is unknown: the caller answers and closes the connection.
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
  bool check_line_endings(std::string_view head, std::size_t from);

  std::unique_ptr<detail::RequestParser> parser_;
  std::size_t max_header_size_;
  std::string head_;  // header bytes until the blank line is seen
  State state_ = State::reading_headers;
  int error_status_ = 0;
  std::string error_message_;
};

}  // namespace chatd::protocol
