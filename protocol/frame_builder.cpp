#include "protocol/frame_builder.hpp"

#include <websocketpp/frame.hpp>

#include "protocol/utf8.hpp"

namespace chatd::protocol {

namespace frame = websocketpp::frame;

void append_frame_header(std::string& out, std::uint8_t opcode, std::uint64_t payload_size) {
  const frame::basic_header basic(static_cast<frame::opcode::value>(opcode), payload_size, true, false);
  const frame::extended_header extended(payload_size);
  out.push_back(static_cast<char>(basic.b0));
  out.push_back(static_cast<char>(basic.b1));
  const std::size_t extended_length = frame::get_header_len(basic) - frame::BASIC_HEADER_LENGTH;
  out.append(reinterpret_cast<const char*>(extended.bytes), extended_length);
}

namespace {

std::string make_frame(frame::opcode::value opcode, std::string_view payload) {
  std::string out;
  out.reserve(max_frame_header_size + payload.size());
  append_frame_header(out, opcode, payload.size());
  out.append(payload);
  return out;
}

}  // namespace

std::string text_frame(std::string_view payload) {
  return make_frame(frame::opcode::text, payload);
}

std::string ping_frame(std::string_view payload) {
  return make_frame(frame::opcode::ping, payload.substr(0, frame::limits::payload_size_basic));
}

std::string pong_frame(std::string_view payload) {
  return make_frame(frame::opcode::pong, payload.substr(0, frame::limits::payload_size_basic));
}

std::string close_frame(std::uint16_t code, std::string_view reason) {
  // 125 bytes of control payload, 2 of them the code; never cut a UTF-8 sequence in half.
  reason = utf8_prefix(reason, frame::limits::close_reason_size);
  std::string payload;
  payload.push_back(static_cast<char>(code >> 8));
  payload.push_back(static_cast<char>(code & 0xff));
  payload.append(reason);
  return make_frame(frame::opcode::close, payload);
}

SharedFrame share(std::string frame) {
  return std::make_shared<const std::string>(std::move(frame));
}

std::string_view frame_payload(std::string_view frame) {
  if (frame.size() < 2) return {};
  const auto length = static_cast<std::uint8_t>(frame[1]) & 0x7f;
  const std::size_t header = length == 127 ? 10 : length == 126 ? 4 : 2;
  return frame.size() < header ? std::string_view{} : frame.substr(header);
}

}  // namespace chatd::protocol
