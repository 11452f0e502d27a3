// Minimal blocking clients for integration tests over real loopback sockets: raw HTTP/1.1 and a
// WebSocket client that masks what it sends, as a browser does, and can also send broken frames.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace chatd::test {

using namespace std::chrono_literals;
using Millis = std::chrono::milliseconds;

// AddressSanitizer builds of chatd and of the test clients run several times slower (a 1000 x 1000 burst:
// 33 s alone on 2 cores, over 60 s on a busy machine). A wait that bounds a whole workload, rather than
// one reply, is multiplied by this, so that it fails only when the work does not get done.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr int sanitizer_slowdown = 4;
#else
inline constexpr int sanitizer_slowdown = 1;
#endif

int connect_loopback(std::uint16_t port, int receive_buffer = 0);

struct HttpResult {
  int status = 0;                              // 0: no response
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string header(const std::string& name) const;
};

// Sends `raw` bytes as they are and reads one response (by Content-Length, or until the server closes).
HttpResult http_exchange(std::uint16_t port, const std::string& raw, Millis timeout = 5s);
HttpResult http_get(std::uint16_t port, const std::string& target, Millis timeout = 5s);
HttpResult http_post(std::uint16_t port, const std::string& target, const std::string& body,
                     const std::string& content_type = "text/plain", Millis timeout = 5s);

struct Frame {
  std::uint8_t opcode = 0;  // 1 text, 2 binary, 8 close, 9 ping, 10 pong
  std::string payload;
  std::uint16_t close_code() const;  // for close frames: 1005 if none
};

// One client frame: masked unless `masked` is false (which a server must reject).
std::string client_frame(std::uint8_t opcode, std::string_view payload, bool fin = true, bool masked = true,
                         std::uint8_t rsv = 0);

class WsClient {
 public:
  WsClient() = default;
  ~WsClient();
  WsClient(WsClient&& other) noexcept;
  WsClient& operator=(WsClient&& other) noexcept;

  // Connects and sends the upgrade request; returns the HTTP status of the answer (101 on success).
  int open(std::uint16_t port, const std::string& target, const std::vector<std::string>& headers = {},
           int receive_buffer = 0);

  void send_text(std::string_view text) { send_raw(client_frame(1, text)); }
  void send_close(std::uint16_t code, std::string_view reason = {});
  void send_raw(std::string_view bytes);

  // The next frame, or nullopt on timeout or end of stream (then closed() is true).
  std::optional<Frame> next(Millis timeout = 5s);
  // Reads until a close frame arrives (skipping data), returns its code; 0 if the stream ended without one.
  std::uint16_t wait_close(Millis timeout = 5s);
  // True once the server closed the TCP connection.
  bool closed() const { return eof_; }
  // Waits for the server to close TCP; true if it did within `timeout`.
  bool wait_eof(Millis timeout = 5s);

  int fd() const { return fd_; }
  // For poll loops: read what is available without blocking; false at end of stream.
  bool read_available();
  // A complete frame from what was read, if any.
  std::optional<Frame> pop_frame();
  void close_socket();

 private:
  int fd_ = -1;
  std::string input_;
  bool eof_ = false;
};

// A reader of a Server-Sent Events stream (GET /events): the request, the 200's head, then events.
struct SseEvent {
  std::string id;    // "" for an event without an id line (the notices)
  std::string type;  // the `event:` field ("message" when absent, as a browser reads it)
  std::string data;  // the `data:` lines, joined by LF
};

class EventStreamClient {
 public:
  EventStreamClient() = default;
  ~EventStreamClient();
  EventStreamClient(EventStreamClient&& other) noexcept;
  EventStreamClient& operator=(EventStreamClient&& other) noexcept;

  // Connects, sends GET `target`, and reads the answer's head; returns its status (200 on success).
  int open(std::uint16_t port, const std::string& target, const std::vector<std::string>& headers = {});
  const std::string& content_type() const { return content_type_; }

  int fd() const { return fd_; }
  // For poll loops: read what is available without blocking; false at end of stream.
  bool read_available();
  // A complete event from what was read, if any; comments (the keepalive) are skipped.
  std::optional<SseEvent> pop_event();

 private:
  int fd_ = -1;
  std::string input_;
  std::string content_type_;
  bool eof_ = false;
};

// Polls many clients until `done()` or the deadline; calls on_frame(index, frame) for each frame.
// Returns true if done() became true.
bool pump(std::vector<WsClient>& clients, Millis timeout,
          const std::function<void(std::size_t, Frame&)>& on_frame, const std::function<bool()>& done);

// Pulls a string field / number field out of a flat JSON event (enough for our own event shape).
std::string json_string(const std::string& json, const std::string& key);
std::int64_t json_number(const std::string& json, const std::string& key);

}  // namespace chatd::test
