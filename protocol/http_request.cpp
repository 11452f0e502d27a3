#include "protocol/http_request.hpp"

#include <algorithm>
#include <cctype>
#include <optional>

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

bool is_decimal(std::string_view text) {
  return !text.empty() && text.size() <= 19 &&
         std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); });
}

// tchar of RFC 9110 §5.6.2: the characters of a token (method, field name).
bool is_tchar(unsigned char c) {
  if (std::isalnum(c)) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

bool is_token(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](unsigned char c) { return is_tchar(c); });
}

std::string_view trim_ows(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

struct Refusal {
  int status = 0;
  std::string message;
};

// The request line of RFC 9112 §3: method SP request-target SP HTTP-version, single spaces. The target may
// hold no whitespace or control character (a raw NUL would cut the path short in the parser below: the
// path "/index.html\0.png" served index.html).
std::optional<Refusal> check_request_line(std::string_view line) {
  const auto first = line.find(' ');
  const auto second = first == std::string_view::npos ? first : line.find(' ', first + 1);
  if (second == std::string_view::npos || line.find(' ', second + 1) != std::string_view::npos)
    return Refusal{400, "the request line must be: method, one space, target, one space, version"};
  const auto method = line.substr(0, first);
  const auto target = line.substr(first + 1, second - first - 1);
  const auto version = line.substr(second + 1);
  if (!is_token(method)) return Refusal{400, "the method is not a token"};
  const bool target_ok = !target.empty() && std::all_of(target.begin(), target.end(), [](unsigned char c) {
    return c > 0x20 && c != 0x7f;
  });
  if (!target_ok) return Refusal{400, "the request target holds a space or a control character"};
  const bool version_ok = version.size() == 8 && version.substr(0, 5) == "HTTP/" &&
                          std::isdigit(static_cast<unsigned char>(version[5])) && version[6] == '.' &&
                          std::isdigit(static_cast<unsigned char>(version[7]));
  if (!version_ok) return Refusal{400, "the HTTP version is malformed"};
  return std::nullopt;
}

// The header lines of a complete head whose line endings are all CRLF (check_line_endings). Everything a
// lenient parser reads one way and a proxy in front of it another way is refused: RFC 9112 §5.1 (no
// whitespace between name and colon), §5.2 (no obs-fold), RFC 9110 §5.1 (names are tokens), §5.5 (no
// control character but HTAB in a value), RFC 9112 §3.2 (exactly one Host), RFC 9110 §8.6 (Content-Length
// is 1*DIGIT; chatd refuses any second Content-Length, even an equal one, which §8.6 allows), RFC 9112 §6.1
// and §6.3 (Transfer-Encoding).
std::optional<Refusal> check_head(std::string_view head) {
  std::size_t line_end = head.find("\r\n");
  if (auto refusal = check_request_line(head.substr(0, line_end))) return refusal;
  std::size_t hosts = 0;
  std::size_t lengths = 0;
  bool transfer_encoding = false;
  for (std::size_t start = line_end + 2;; start = line_end + 2) {
    line_end = head.find("\r\n", start);
    const auto line = head.substr(start, line_end - start);
    if (line.empty()) break;  // the blank line that ends the head
    if (line.front() == ' ' || line.front() == '\t')
      return Refusal{400, "a header line starts with whitespace (obs-fold is not accepted)"};
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) return Refusal{400, "a header line has no colon"};
    const auto name = line.substr(0, colon);
    if (name.back() == ' ' || name.back() == '\t')
      return Refusal{400, "whitespace between a header name and its colon"};
    if (!is_token(name)) return Refusal{400, "a header name is not a token"};
    const auto value = trim_ows(line.substr(colon + 1));
    if (iequals(name, "Host")) {
      ++hosts;
    } else if (iequals(name, "Content-Length")) {
      if (++lengths > 1) return Refusal{400, "more than one Content-Length"};
      if (!is_decimal(value)) return Refusal{400, "invalid Content-Length"};
    } else if (iequals(name, "Transfer-Encoding")) {
      transfer_encoding = true;
    }
  }
  if (hosts == 0) return Refusal{400, "no Host header"};
  if (hosts > 1) return Refusal{400, "more than one Host header"};
  if (transfer_encoding && lengths > 0)
    return Refusal{400, "both Transfer-Encoding and Content-Length: the body's length is ambiguous"};
  // chatd decodes no transfer coding, chunked included (websocketpp's parser leaves chunks in the stream):
  // RFC 9112 §6.1 answers a coding the server does not implement with 501.
  if (transfer_encoding)
    return Refusal{501, "Transfer-Encoding is not implemented: send the body with a Content-Length"};
  return std::nullopt;
}

}  // namespace

HttpRequestReader::HttpRequestReader(std::size_t max_header_size, std::size_t max_body_size)
    : parser_(std::make_unique<detail::RequestParser>()), max_header_size_(max_header_size) {
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
    // Never more than the limit and its blank line in all: the bytes checked are then the same however the
    // network split them, so one head always gets the same answer (fuzzing found 400 read whole and 431
    // read in pieces, when a bad byte sat just past the limit).
    const std::size_t head_room =
        max_header_size_ + header_end.size() - std::min(old_size, max_header_size_ + header_end.size());
    head_.append(bytes.substr(0, std::min(bytes.size(), head_room)));
    const auto end = head_.find(header_end, search_from);
    // Only head bytes are checked: what follows the blank line is a body, which may hold anything.
    const std::size_t checked_end = end == std::string::npos ? head_.size() : end + header_end.size();
    if (!check_line_endings(std::string_view(head_).substr(0, checked_end), old_size)) return bytes.size();
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

// Every line of a head ends with CRLF: a bare LF or a bare CR is refused (400) wherever it is, and so is any
// control character but HTAB (RFC 9112 §2.2 lets a server accept a bare LF; refusing it everywhere is the
// consistent choice, so that no line ending is read one way here and another way by a proxy). Checked as
// bytes arrive, from `from` on (one byte back: a CR at the end of the last bytes waits for the next).
bool HttpRequestReader::check_line_endings(std::string_view head, std::size_t from) {
  for (std::size_t i = from > 0 ? from - 1 : 0; i < head.size(); ++i) {
    const auto c = static_cast<unsigned char>(head[i]);
    if (c == '\n') {
      if (i == 0 || head[i - 1] != '\r') {
        fail(400, "a bare LF in the request head: lines end with CRLF");
        return false;
      }
    } else if (c == '\r') {
      if (i + 1 < head.size() && head[i + 1] != '\n') {
        fail(400, "a bare CR in the request head: lines end with CRLF");
        return false;
      }
    } else if ((c < 0x20 && c != '\t') || c == 0x7f) {
      fail(400, "a control character in the request head");
      return false;
    }
  }
  return true;
}

void HttpRequestReader::on_headers(std::string_view head) {
  if (auto refusal = check_head(head)) {
    fail(refusal->status, std::move(refusal->message));
    return;
  }
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
