// libFuzzer target: protocol::FrameReader as server/transport/websocket_input.cpp drives it, the input
// cut into the chunks TCP could deliver. Oracles: a message never exceeds max_message_size; a text
// message (and a close reason parse_close_payload accepts) is valid UTF-8 (RFC 6455 8.1); a control
// frame's payload is at most 125 bytes (RFC 6455 5.5); an error carries a close code the server may send.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "protocol/frame_reader.hpp"
#include "protocol/utf8.hpp"
#include "test/fuzz/check.hpp"

namespace {}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using chatd::protocol::FrameReader;
  using Kind = chatd::protocol::IncomingMessage::Kind;
  if (size < 2) return 0;
  // Byte 0: the chunk size TCP delivers (1..256); byte 1: the message size limit (small, so the fuzzer
  // reaches it, or 64 KiB).
  const std::size_t chunk = static_cast<std::size_t>(data[0]) + 1;
  const std::size_t max_message_size = data[1] < 0x80 ? static_cast<std::size_t>(data[1]) * 4 : 65536;
  std::vector<std::uint8_t> bytes(data + 2, data + size);  // feed() unmasks in place: its own copy

  FrameReader reader(max_message_size);
  std::size_t offset = 0;
  while (offset < bytes.size()) {
    const std::size_t end = std::min(bytes.size(), offset + chunk);
    while (offset < end) {
      std::size_t used = 0;
      const auto status = reader.feed(bytes.data() + offset, end - offset, used);
      FUZZ_CHECK(used <= end - offset);
      offset += used;
      if (status == FrameReader::Status::error) {
        const auto code = reader.error_code();
        FUZZ_CHECK(code == 1002 || code == 1007 || code == 1009);
        FUZZ_CHECK(!reader.error_reason().empty());
        return 0;
      }
      if (status == FrameReader::Status::need_more) {
        FUZZ_CHECK(offset == end);
        break;
      }
      auto message = reader.take_message();
      const bool control =
          message.kind == Kind::ping || message.kind == Kind::pong || message.kind == Kind::close;
      if (control) {
        FUZZ_CHECK(message.payload.size() <= 125);
      } else {
        FUZZ_CHECK(message.payload.size() <= max_message_size);
      }
      if (message.kind == Kind::text) FUZZ_CHECK(chatd::protocol::is_valid_utf8(message.payload));
      if (message.kind == Kind::close) {
        const auto close = chatd::protocol::parse_close_payload(message.payload);
        if (close.valid) FUZZ_CHECK(chatd::protocol::is_valid_utf8(close.reason));
        if (message.payload.empty()) FUZZ_CHECK(close.valid && close.code == 1005);
      }
      // Between messages the server frees the parser; the next feed() must carry on the same.
      reader.release_if_idle();
    }
  }
  return 0;
}
