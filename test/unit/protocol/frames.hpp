// Client-to-server WebSocket frames built by hand, byte by byte, for the tests that feed frames to a reader.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace chatd::test {

using Bytes = std::vector<std::uint8_t>;

inline Bytes bytes_of(std::string_view text) {
  return Bytes(text.begin(), text.end());
}

// One client-to-server frame, masked with a fixed key unless `masked` is false.
struct ClientFrame {
  std::uint8_t opcode = 0x1;
  std::string payload;
  bool fin = true;
  std::uint8_t rsv = 0;  // the three RSV bits, as 0..7 (4 = RSV1)
  bool masked = true;
};

inline Bytes build(const ClientFrame& frame) {
  static constexpr std::uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
  Bytes out;
  out.push_back(static_cast<std::uint8_t>((frame.fin ? 0x80 : 0x00) | (frame.rsv << 4) | frame.opcode));
  const std::uint8_t mask_bit = frame.masked ? 0x80 : 0x00;
  const std::uint64_t size = frame.payload.size();
  if (size < 126) {
    out.push_back(static_cast<std::uint8_t>(mask_bit | size));
  } else if (size <= 0xffff) {
    out.push_back(mask_bit | 126);
    out.push_back(static_cast<std::uint8_t>(size >> 8));
    out.push_back(static_cast<std::uint8_t>(size & 0xff));
  } else {
    out.push_back(mask_bit | 127);
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(size >> shift));
  }
  if (frame.masked) out.insert(out.end(), key, key + 4);
  for (std::size_t i = 0; i < frame.payload.size(); ++i) {
    const auto byte = static_cast<std::uint8_t>(frame.payload[i]);
    out.push_back(frame.masked ? static_cast<std::uint8_t>(byte ^ key[i % 4]) : byte);
  }
  return out;
}

inline Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& part : parts) out.insert(out.end(), part.begin(), part.end());
  return out;
}

}  // namespace chatd::test
