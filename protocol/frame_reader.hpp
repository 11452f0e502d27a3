// Client-to-server WebSocket frames, on websocketpp's hybi13 processor: unmasking, fragmentation,
// size limit, UTF-8 validation of text, and the close codes for each protocol error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace chatd::protocol {

struct IncomingMessage {
  enum class Kind { text, binary, ping, pong, close };
  Kind kind = Kind::text;
  std::string payload;
};

// A close frame's payload: code 1005 when it had none.
struct ClosePayload {
  std::uint16_t code = 1005;
  std::string reason;
  bool valid = true;  // false: bad length, invalid or reserved code, or invalid UTF-8 reason
  // Why it is invalid, as the close code to answer: 1007 for a reason that is not UTF-8 (RFC 6455 5.5.1
  // requires UTF-8, and 7.4.1 / 8.1 give 1007 for data inconsistent with the message type), else 1002.
  std::uint16_t error_code = 0;
};
ClosePayload parse_close_payload(std::string_view payload);

class FrameReader {
 public:
  explicit FrameReader(std::size_t max_message_size);
  ~FrameReader();
  FrameReader(const FrameReader&) = delete;
  FrameReader& operator=(const FrameReader&) = delete;

  enum class Status { need_more, message, error };

  // Consumes bytes up to the end of one complete message. On `message`, take it with take_message()
  // and call feed() again with the rest. On `error`, stop feeding: error_code() is the close code to send.
  // The payload is unmasked in place: `data` is scratch for the reader.
  Status feed(std::uint8_t* data, std::size_t size, std::size_t& used);
  IncomingMessage take_message();

  std::uint16_t error_code() const { return error_code_; }
  const std::string& error_reason() const { return error_reason_; }

  // Frees the parser state between messages; the next feed() makes it again. An idle connection then
  // holds no parser at all.
  void release_if_idle();

 private:
  Status fail(std::uint16_t code, std::string reason);
  Status check_header();  // the frame header just read: within the limits?
  Status consume(std::uint8_t* data, std::size_t size, std::size_t& used);  // through websocketpp

  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::size_t max_message_size_;
  std::uint16_t error_code_ = 0;
  std::string error_reason_;
};

}  // namespace chatd::protocol
