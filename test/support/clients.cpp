#include "test/support/clients.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>
#include <stdexcept>
#include <utility>

namespace chatd::test {

namespace {

using Clock = std::chrono::steady_clock;

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
  return static_cast<int>(std::max<long long>(0, left));
}

void send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t sent = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        pollfd p{fd, POLLOUT, 0};
        poll(&p, 1, 1000);
        continue;
      }
      return;  // the server closed: the test's reads will show it
    }
    bytes.remove_prefix(static_cast<std::size_t>(sent));
  }
}

// Reads into `out` until `complete(out)` or the deadline or end of stream. False on timeout.
bool read_until(int fd, std::string& out, Clock::time_point deadline, bool& eof,
                const std::function<bool(const std::string&)>& complete) {
  char buffer[65536];
  while (!complete(out)) {
    pollfd p{fd, POLLIN, 0};
    const int ready = poll(&p, 1, remaining_ms(deadline));
    if (ready <= 0) return false;
    const ssize_t size = ::recv(fd, buffer, sizeof buffer, 0);
    if (size < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (size <= 0) {
      eof = true;
      return complete(out);
    }
    out.append(buffer, static_cast<std::size_t>(size));
  }
  return true;
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

// Parses a response head; returns the head size, or 0 if incomplete.
// Appends what `fd` has to `input` without blocking; false (and `eof` set) at end of stream or on an error.
bool read_nonblocking(int fd, std::string& input, bool& eof) {
  char buffer[65536];
  for (;;) {
    const ssize_t size = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
    if (size > 0) {
      input.append(buffer, static_cast<std::size_t>(size));
      continue;
    }
    if (size < 0 && (errno == EAGAIN || errno == EINTR)) return true;
    eof = true;
    return false;
  }
}

std::size_t parse_head(const std::string& data, HttpResult& result) {
  const auto end = data.find("\r\n\r\n");
  if (end == std::string::npos) return 0;
  result.status = std::stoi(data.substr(9, 3));
  std::size_t line_start = data.find("\r\n") + 2;
  while (line_start < end) {
    const auto line_end = data.find("\r\n", line_start);
    const std::string line = data.substr(line_start, line_end - line_start);
    const auto colon = line.find(':');
    if (colon != std::string::npos) {
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      result.headers[lower(line.substr(0, colon))] = value;
    }
    line_start = line_end + 2;
  }
  return end + 4;
}

// Sends GET `target` with `fixed` header lines and `headers`, and reads the answer's head. What came after
// the head in the same read (frames, events) is left in `input`.
HttpResult send_get(int fd, const std::string& target, const std::string& fixed,
                    const std::vector<std::string>& headers, std::string& input, bool& eof) {
  std::string request = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + fixed;
  for (const auto& header : headers) request += header + "\r\n";
  request += "\r\n";
  send_all(fd, request);
  HttpResult result;
  std::size_t head_size = 0;
  read_until(fd, input, Clock::now() + 5s, eof, [&](const std::string& bytes) {
    head_size = parse_head(bytes, result);
    return head_size > 0;
  });
  if (head_size) input.erase(0, head_size);
  return result;
}

}  // namespace

int connect_loopback(std::uint16_t port, int receive_buffer) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  if (receive_buffer > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    const int error = errno;
    ::close(fd);
    throw std::runtime_error(std::string("connect: ") + std::strerror(error));
  }
  return fd;
}

std::string HttpResult::header(const std::string& name) const {
  const auto found = headers.find(lower(name));
  return found == headers.end() ? std::string() : found->second;
}

HttpResult http_exchange(std::uint16_t port, const std::string& raw, Millis timeout) {
  const int fd = connect_loopback(port);
  send_all(fd, raw);
  HttpResult result;
  std::string data;
  bool eof = false;
  std::size_t head_size = 0;
  const auto deadline = Clock::now() + timeout;
  read_until(fd, data, deadline, eof, [&](const std::string& bytes) {
    if (!head_size) head_size = parse_head(bytes, result);
    if (!head_size) return false;
    const std::string length = result.header("content-length");
    if (length.empty()) return false;  // read to end of stream
    return bytes.size() >= head_size + std::stoul(length);
  });
  ::close(fd);
  if (head_size) {
    const std::string length = result.header("content-length");
    result.body = data.substr(head_size, length.empty() ? std::string::npos : std::stoul(length));
  }
  return result;
}

HttpResult http_get(std::uint16_t port, const std::string& target, Millis timeout) {
  return http_exchange(port, "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                       timeout);
}

HttpResult http_post(std::uint16_t port, const std::string& target, const std::string& body,
                     const std::string& content_type, Millis timeout) {
  return http_exchange(
      port,
      "POST " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: " +
          content_type + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body,
      timeout);
}

std::uint16_t Frame::close_code() const {
  if (payload.size() < 2) return 1005;
  return static_cast<std::uint16_t>((static_cast<unsigned char>(payload[0]) << 8) |
                                    static_cast<unsigned char>(payload[1]));
}

std::string client_frame(std::uint8_t opcode, std::string_view payload, bool fin, bool masked,
                         std::uint8_t rsv) {
  thread_local std::mt19937 random{std::random_device{}()};
  std::string out;
  out.push_back(static_cast<char>((fin ? 0x80 : 0) | (rsv << 4) | opcode));
  const std::uint8_t mask_bit = masked ? 0x80 : 0;
  if (payload.size() < 126) {
    out.push_back(static_cast<char>(mask_bit | payload.size()));
  } else if (payload.size() < 65536) {
    out.push_back(static_cast<char>(mask_bit | 126));
    out.push_back(static_cast<char>(payload.size() >> 8));
    out.push_back(static_cast<char>(payload.size() & 0xff));
  } else {
    out.push_back(static_cast<char>(mask_bit | 127));
    for (int shift = 56; shift >= 0; shift -= 8)
      out.push_back(static_cast<char>((payload.size() >> shift) & 0xff));
  }
  if (!masked) return out.append(payload);
  const std::uint32_t key = random();
  char mask[4];
  std::memcpy(mask, &key, 4);
  out.append(mask, 4);
  for (std::size_t i = 0; i < payload.size(); ++i) out.push_back(static_cast<char>(payload[i] ^ mask[i % 4]));
  return out;
}

WsClient::~WsClient() {
  close_socket();
}

WsClient::WsClient(WsClient&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), input_(std::move(other.input_)), eof_(other.eof_) {}

WsClient& WsClient::operator=(WsClient&& other) noexcept {
  if (this != &other) {
    close_socket();
    fd_ = std::exchange(other.fd_, -1);
    input_ = std::move(other.input_);
    eof_ = other.eof_;
  }
  return *this;
}

void WsClient::close_socket() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

int WsClient::open(std::uint16_t port, const std::string& target, const std::vector<std::string>& headers,
                   int receive_buffer) {
  fd_ = connect_loopback(port, receive_buffer);
  return send_get(
             fd_, target,
             "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
             "Sec-WebSocket-Version: 13\r\n",
             headers, input_, eof_)
      .status;
}

void WsClient::send_raw(std::string_view bytes) {
  send_all(fd_, bytes);
}

void WsClient::send_close(std::uint16_t code, std::string_view reason) {
  std::string payload;
  payload.push_back(static_cast<char>(code >> 8));
  payload.push_back(static_cast<char>(code & 0xff));
  payload.append(reason);
  send_raw(client_frame(8, payload));
}

std::optional<Frame> WsClient::pop_frame() {
  if (input_.size() < 2) return std::nullopt;
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(input_[i]); };
  std::size_t header = 2;
  std::uint64_t size = byte(1) & 0x7f;
  if (size == 126) {
    if (input_.size() < 4) return std::nullopt;
    size = (byte(2) << 8) | byte(3);
    header = 4;
  } else if (size == 127) {
    if (input_.size() < 10) return std::nullopt;
    size = 0;
    for (int i = 0; i < 8; ++i) size = (size << 8) | byte(2 + i);
    header = 10;
  }
  if (input_.size() < header + size) return std::nullopt;
  Frame frame;
  frame.opcode = byte(0) & 0x0f;
  frame.payload = input_.substr(header, size);
  input_.erase(0, header + size);
  return frame;
}

bool WsClient::read_available() {
  return read_nonblocking(fd_, input_, eof_);
}

std::optional<Frame> WsClient::next(Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (auto frame = pop_frame()) return frame;
    if (eof_) return std::nullopt;
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, remaining_ms(deadline)) <= 0) return std::nullopt;
    read_available();
  }
}

std::uint16_t WsClient::wait_close(Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    auto frame = next(std::chrono::duration_cast<Millis>(deadline - Clock::now()));
    if (!frame) return 0;
    if (frame->opcode == 8) return frame->close_code();
  }
  return 0;
}

bool WsClient::wait_eof(Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!eof_) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, remaining_ms(deadline)) <= 0) return false;
    read_available();
  }
  return true;
}

EventStreamClient::~EventStreamClient() {
  if (fd_ >= 0) ::close(fd_);
}

EventStreamClient::EventStreamClient(EventStreamClient&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      input_(std::move(other.input_)),
      content_type_(std::move(other.content_type_)),
      eof_(other.eof_) {}

EventStreamClient& EventStreamClient::operator=(EventStreamClient&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    input_ = std::move(other.input_);
    content_type_ = std::move(other.content_type_);
    eof_ = other.eof_;
  }
  return *this;
}

int EventStreamClient::open(std::uint16_t port, const std::string& target,
                            const std::vector<std::string>& headers) {
  fd_ = connect_loopback(port);
  const HttpResult result = send_get(fd_, target, "Accept: text/event-stream\r\n", headers, input_, eof_);
  content_type_ = result.header("content-type");
  return result.status;
}

bool EventStreamClient::read_available() {
  return read_nonblocking(fd_, input_, eof_);
}

std::optional<SseEvent> EventStreamClient::pop_event() {
  // chatd ends lines with LF alone, so a blank line is "\n\n" (the standard's parser takes CR too).
  for (;;) {
    const std::size_t end = input_.find("\n\n");
    if (end == std::string::npos) return std::nullopt;
    const std::string block = input_.substr(0, end + 1);
    input_.erase(0, end + 2);
    SseEvent event;
    bool has_data = false;
    for (std::size_t at = 0; at < block.size();) {
      const std::size_t line_end = block.find('\n', at);
      const std::string_view line(block.data() + at, line_end - at);
      at = line_end + 1;
      if (line.empty() || line.front() == ':') continue;  // a comment
      const std::size_t colon = line.find(':');
      const std::string_view field = line.substr(0, colon);
      std::string_view value = colon == std::string_view::npos ? std::string_view{} : line.substr(colon + 1);
      if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      if (field == "id") {
        event.id = value;
      } else if (field == "event") {
        event.type = value;
      } else if (field == "data") {
        if (has_data) event.data += '\n';
        event.data += value;
        has_data = true;
      }
    }
    if (!has_data) continue;  // a block of comments only: the keepalive
    if (event.type.empty()) event.type = "message";
    return event;
  }
}

bool pump(std::vector<WsClient>& clients, Millis timeout,
          const std::function<void(std::size_t, Frame&)>& on_frame, const std::function<bool()>& done) {
  const auto deadline = Clock::now() + timeout;
  std::vector<pollfd> fds(clients.size());
  while (!done()) {
    for (std::size_t i = 0; i < clients.size(); ++i)
      fds[i] = {clients[i].closed() ? -1 : clients[i].fd(), POLLIN, 0};
    const int ready = poll(fds.data(), fds.size(), std::min(remaining_ms(deadline), 100));
    if (ready < 0) return false;
    for (std::size_t i = 0; i < clients.size(); ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      clients[i].read_available();
      while (auto frame = clients[i].pop_frame()) on_frame(i, *frame);
    }
    if (Clock::now() >= deadline) return done();
  }
  return true;
}

std::string json_string(const std::string& json, const std::string& key) {
  const std::string marker = "\"" + key + "\":\"";
  const auto start = json.find(marker);
  if (start == std::string::npos) return {};
  std::string out;
  for (std::size_t i = start + marker.size(); i < json.size() && json[i] != '"'; ++i) {
    if (json[i] == '\\' && i + 1 < json.size()) ++i;
    out.push_back(json[i]);
  }
  return out;
}

std::int64_t json_number(const std::string& json, const std::string& key) {
  const std::string marker = "\"" + key + "\":";
  const auto start = json.find(marker);
  if (start == std::string::npos) return -1;
  return std::stoll(json.substr(start + marker.size()));
}

}  // namespace chatd::test
