#include "protocol/http_request.hpp"

#include <algorithm>
#include <cctype>

#include <websocketpp/processors/processor.hpp>

#include "protocol/detail/request_parser.hpp"

namespace chatd::protocol {

namespace http = websocketpp::http;

namespace {

constexpr std::string_view header_end = "\r\n\r\n";

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool contains_token(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    const auto comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (iequals(item, token)) return true;
  }
  return false;
}

bool is_decimal(const std::string& text) {
  return !text.empty() && text.size() <= 19 &&
         std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); });
}

}  // namespace

HttpRequestReader::HttpRequestReader(std::size_t max_header_size, std::size_t max_body_size)
    : parser_(std::make_unique<detail::RequestParser>()),
      max_header_size_(max_header_size),
      max_body_size_(max_body_size) {
  parser_->set_max_body_size(max_body_size);
}

HttpRequestReader::~HttpRequestReader() = default;

void HttpRequestReader::fail(int status, std::string message) {
  state_ = State::failed;
  error_status_ = status;
  error_message_ = std::move(message);
}

std::size_t HttpRequestReader::feed(std::string_view bytes) {
  std::size_t used = 0;
  if (state_ == State::reading_headers) {
    // Look for the blank line across the old and new bytes; only header bytes go to the parser.
    const std::size_t old_size = head_.size();
    const std::size_t search_from = old_size >= 3 ? old_size - 3 : 0;
    head_.append(bytes.substr(0, std::min(bytes.size(), max_header_size_ + header_end.size())));
    const auto end = head_.find(header_end, search_from);
    if (end == std::string::npos) {
      // Even if the next byte ends the head, it would be over: the limit excludes the final CRLF.
      if (head_.size() >= max_header_size_ + 2) {
        fail(431, "request headers are larger than " + std::to_string(max_header_size_) + " bytes");
      }
      return bytes.size();
    }
    const std::size_t head_size = end + header_end.size();
    if (head_size > max_header_size_ + 2) {  // +2: the final blank line is not a header
      fail(431, "request headers are larger than " + std::to_string(max_header_size_) + " bytes");
      return bytes.size();
    }
    used = head_size - old_size;
    head_.resize(head_size);
    on_headers(head_);
    head_.clear();
    head_.shrink_to_fit();
    if (state_ != State::reading_body) return used;
  }
  if (state_ == State::reading_body) {
    try {
      used += parser_->consume(bytes.data() + used, bytes.size() - used);
    } catch (const http::exception& e) {
      fail(static_cast<int>(e.m_error_code), e.m_msg);
      return bytes.size();
    }
    if (parser_->ready()) state_ = State::complete;
  }
  return used;
}

void HttpRequestReader::on_headers(std::string_view head) {
  // websocketpp's parser rejects a request without Host (400), as HTTP/1.1 requires.
  try {
    parser_->consume(head.data(), head.size());
  } catch (const http::exception& e) {
    const int status = static_cast<int>(e.m_error_code);
    // The parser reads Content-Length with strtoul: "-1" becomes huge and is refused as too large.
    if (status == 413 && !is_decimal(parser_->get_header("Content-Length"))) {
      fail(400, "invalid Content-Length");
    } else {
      fail(status == 0 ? 400 : status, e.m_msg);
    }
    return;
  }
  const std::string& version = parser_->get_version();
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    fail(505, "HTTP version " + version + " is not supported");
    return;
  }
  if (!parser_->get_header("Transfer-Encoding").empty()) {
    fail(411, "chunked request bodies are not supported: send a Content-Length");
    return;
  }
  const std::string& length = parser_->get_header("Content-Length");
  if (!length.empty() && !is_decimal(length)) {
    fail(400, "invalid Content-Length");
    return;
  }
  state_ = parser_->ready() ? State::complete : State::reading_body;
}

const std::string& HttpRequestReader::method() const {
  return parser_->get_method();
}
const std::string& HttpRequestReader::target() const {
  return parser_->get_uri();
}
const std::string& HttpRequestReader::version() const {
  return parser_->get_version();
}
const std::string& HttpRequestReader::body() const {
  return parser_->get_body();
}

const std::string& HttpRequestReader::header(std::string_view name) const {
  return parser_->get_header(std::string(name));
}

bool HttpRequestReader::keep_alive() const {
  const std::string& connection = header("Connection");
  if (version() == "HTTP/1.0") return contains_token(connection, "keep-alive");
  return !contains_token(connection, "close");
}

bool HttpRequestReader::expects_continue() const {
  return state_ == State::reading_body && iequals(header("Expect"), "100-continue");
}

bool HttpRequestReader::is_websocket_upgrade() const {
  return contains_token(header("Upgrade"), "websocket") && contains_token(header("Connection"), "upgrade");
}

}  // namespace chatd::protocol
