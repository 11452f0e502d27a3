// Server-to-client WebSocket frames. Server frames are unmasked, so one frame's bytes serve every
// subscriber: build it once and share the immutable buffer.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace chatd::protocol {

using SharedFrame = std::shared_ptr<const std::string>;

// WebSocket close codes chatd sends (RFC 6455 section 7.4.1).
namespace close_code {
inline constexpr std::uint16_t normal = 1000;
inline constexpr std::uint16_t going_away = 1001;
inline constexpr std::uint16_t protocol_error = 1002;
inline constexpr std::uint16_t unsupported_data = 1003;
inline constexpr std::uint16_t no_status = 1005;  // never sent: "the peer's close frame had no code"
inline constexpr std::uint16_t invalid_payload = 1007;
inline constexpr std::uint16_t policy_violation = 1008;
inline constexpr std::uint16_t message_too_big = 1009;
inline constexpr std::uint16_t internal_error = 1011;
}  // namespace close_code

// Largest header a server frame can have: 2 bytes + 8 bytes of extended length.
inline constexpr std::size_t max_frame_header_size = 10;

// Appends the header of one unfragmented, unmasked frame to `out`.
void append_frame_header(std::string& out, std::uint8_t opcode, std::uint64_t payload_size);

std::string text_frame(std::string_view payload);
std::string ping_frame(std::string_view payload = {});
std::string pong_frame(std::string_view payload);
// The close payload is the code then the reason, cut to the 123 bytes a control frame allows.
std::string close_frame(std::uint16_t code, std::string_view reason);

SharedFrame share(std::string frame);

// The payload of a frame built above (unfragmented, unmasked): what follows its 2-, 4- or 10-byte header
// (RFC 6455 5.2).
std::string_view frame_payload(std::string_view frame);

}  // namespace chatd::protocol
