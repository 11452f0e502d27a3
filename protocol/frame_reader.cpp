#include "protocol/frame_reader.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include <websocketpp/close.hpp>
#include <websocketpp/processors/hybi13.hpp>

#include "protocol/frame_builder.hpp"
#include "protocol/websocket_config.hpp"

namespace chatd::protocol {

namespace {

// hybi13, able to say whether it is between messages: no frame partly read, and no fragmented data
// message waiting for its last frame (control frames may come between fragments).
class Processor : public websocketpp::processor::hybi13<WebsocketConfig> {
 public:
  using hybi13::hybi13;
  bool between_messages() const {
    return m_state == HEADER_BASIC && m_bytes_needed == websocketpp::frame::BASIC_HEADER_LENGTH &&
           !m_data_msg.msg_ptr;
  }
};
using MessageManager = WebsocketConfig::con_msg_manager_type;

// Both are stateless and thread-safe: one serves every connection. The processor keeps the rng by reference.
WebsocketConfig::rng_type& shared_rng() {
  static WebsocketConfig::rng_type rng;
  return rng;
}
const std::shared_ptr<MessageManager>& shared_manager() {
  static const auto manager = std::make_shared<MessageManager>();
  return manager;
}

// True when `text` (valid UTF-8 up to its last character) stops partway through that character.
bool ends_inside_character(const std::string& text) {
  std::size_t continuation = 0;
  auto it = text.rbegin();
  while (it != text.rend() && continuation < 4 && (static_cast<unsigned char>(*it) & 0xC0) == 0x80) {
    ++continuation;
    ++it;
  }
  if (it == text.rend()) return continuation > 0;
  const auto lead = static_cast<unsigned char>(*it);
  const std::size_t length = lead < 0x80 ? 1 : (lead & 0xE0) == 0xC0 ? 2 : (lead & 0xF0) == 0xE0 ? 3 : 4;
  return continuation + 1 < length;
}

IncomingMessage::Kind kind_of(websocketpp::frame::opcode::value opcode) {
  using websocketpp::frame::opcode::value;
  switch (opcode) {
    case value::binary:
      return IncomingMessage::Kind::binary;
    case value::ping:
      return IncomingMessage::Kind::ping;
    case value::pong:
      return IncomingMessage::Kind::pong;
    case value::close:
      return IncomingMessage::Kind::close;
    default:
      return IncomingMessage::Kind::text;
  }
}

}  // namespace

// websocketpp 0.8.2 checks a continuation frame as `size + length > max`, which wraps for a declared
// length near 2^64, and never checks the 64-bit length's high bit, which RFC 6455 5.2 requires to be 0:
// one client could make it buffer without end. So the reader takes each frame header first, checks the
// declared length against the limit (with the fragments before it), and hands websocketpp the header only
// once it is within bounds; payload bytes follow, never past the end of the frame.
struct FrameReader::Impl {
  explicit Impl(std::size_t max_message_size) : processor(false, true, shared_manager(), shared_rng()) {
    processor.set_max_message_size(max_message_size);
  }
  // Copies header bytes from `data` (from `used` on) until the header is whole: 2 bytes, then the
  // extended length and the masking key they announce. False while it is not.
  bool take_header(const std::uint8_t* data, std::size_t size, std::size_t& used) {
    const auto take_up_to = [&](std::size_t length) {
      const std::size_t part = std::min(length - header_size, size - used);
      std::memcpy(header.data() + header_size, data + used, part);
      header_size += part;
      used += part;
      return header_size == length;
    };
    if (header_size < 2 && !take_up_to(2)) return false;
    const std::uint8_t length_code = header[1] & 0x7f;
    const std::size_t extended = length_code == 126 ? 2 : length_code == 127 ? 8 : 0;
    return take_up_to(2 + extended + ((header[1] & 0x80) ? 4 : 0));
  }
  std::uint64_t declared_length() const {
    const std::uint8_t length_code = header[1] & 0x7f;
    if (length_code < 126) return length_code;
    const std::size_t bytes = length_code == 126 ? 2 : 8;
    std::uint64_t length = 0;
    for (std::size_t i = 0; i < bytes; ++i) length = (length << 8) | header[2 + i];
    return length;
  }

  Processor processor;
  WebsocketConfig::message_type::ptr message;  // complete, not yet taken
  std::array<std::uint8_t, 14> header{};       // the longest header: 2 + 8 length + 4 key
  std::size_t header_size = 0;                 // bytes of `header` read; websocketpp has not seen them
  std::uint64_t payload_left = 0;              // of the frame whose header websocketpp has
  std::uint64_t message_size = 0;              // declared by the data frames of the open message
};

FrameReader::FrameReader(std::size_t max_message_size) : max_message_size_(max_message_size) {}

void FrameReader::release_if_idle() {
  if (impl_ && !impl_->message && impl_->header_size == 0 && impl_->processor.between_messages())
    impl_.reset();
}
FrameReader::~FrameReader() = default;

FrameReader::Status FrameReader::fail(std::uint16_t code, std::string reason) {
  error_code_ = code;
  error_reason_ = std::move(reason);
  return Status::error;
}

FrameReader::Status FrameReader::check_header() {
  Impl& state = *impl_;
  const std::uint64_t length = state.declared_length();
  if (length >> 63) {
    return fail(close_code::protocol_error, "a 64-bit payload length must have its high bit clear");
  }
  const std::uint8_t opcode = state.header[0] & 0x0f;
  const bool control = (opcode & 0x08) != 0;
  if (!control) {
    // A continuation adds to the message; any other data frame begins one (or is a protocol error,
    // which websocketpp reports once it sees the header).
    const std::uint64_t before = opcode == 0 ? state.message_size : 0;
    if (length > max_message_size_ - std::min<std::uint64_t>(before, max_message_size_)) {
      return fail(close_code::message_too_big,
                  "message larger than " + std::to_string(max_message_size_) + " bytes");
    }
    const bool final_frame = (state.header[0] & 0x80) != 0;
    state.message_size = final_frame ? 0 : before + length;
  }
  state.payload_left = length;
  return Status::need_more;
}

FrameReader::Status FrameReader::consume(std::uint8_t* data, std::size_t size, std::size_t& used) {
  namespace error = websocketpp::processor::error;
  websocketpp::lib::error_code ec;
  used = impl_->processor.consume(data, size, ec);
  if (ec == error::make_error_code(error::non_minimal_encoding)) {
    return fail(close_code::protocol_error, ec.message());  // websocketpp's to_ws() says 1011 for it
  }
  if (ec) return fail(error::to_ws(ec), ec.message());
  if (!impl_->processor.ready()) return Status::need_more;

  impl_->message = impl_->processor.get_message();
  // hybi13 checks that a text message ends on a whole character only when its last frame is a text
  // frame, not when it is a continuation: check the end here. Everything before was validated already.
  if (impl_->message->get_opcode() == websocketpp::frame::opcode::text &&
      ends_inside_character(impl_->message->get_payload())) {
    impl_->message.reset();
    return fail(close_code::invalid_payload, "text message ends inside a UTF-8 character");
  }
  return Status::message;
}

FrameReader::Status FrameReader::feed(std::uint8_t* data, std::size_t size, std::size_t& used) {
  if (!impl_) impl_ = std::make_unique<Impl>(max_message_size_);
  Impl& state = *impl_;
  used = 0;
  while (used < size) {
    std::uint8_t* from = data + used;  // what websocketpp gets next: a header (and payload), or payload
    std::size_t header_size = 0;       // of those bytes, the header
    if (state.payload_left == 0) {
      // A header: gather it whole and check it before websocketpp sees any of it.
      const bool header_in_data = state.header_size == 0;
      if (!state.take_header(data, size, used)) return Status::need_more;
      if (check_header() == Status::error) return Status::error;
      header_size = std::exchange(state.header_size, 0);
      if (!header_in_data) {
        // It came in pieces: websocketpp parses the copy (and any empty payload) on its own.
        std::size_t consumed = 0;
        const Status status = consume(state.header.data(), header_size, consumed);
        if (status != Status::need_more) return status;
        continue;
      }
    }
    // The usual case: the header and as much of its payload as is here, in one go.
    const auto payload = static_cast<std::size_t>(std::min<std::uint64_t>(state.payload_left, size - used));
    std::size_t consumed = 0;
    const Status status = consume(from, header_size + payload, consumed);
    if (status == Status::error) return status;
    state.payload_left -= consumed - header_size;
    used += consumed - header_size;
    if (status == Status::message) return status;
  }
  return Status::need_more;
}

IncomingMessage FrameReader::take_message() {
  IncomingMessage out;
  auto message = std::move(impl_->message);
  if (!message) return out;
  out.kind = kind_of(message->get_opcode());
  out.payload = std::move(message->get_raw_payload());
  return out;
}

ClosePayload parse_close_payload(std::string_view payload) {
  const std::string bytes(payload);
  ClosePayload out;
  websocketpp::lib::error_code ec;
  out.code = websocketpp::close::extract_code(bytes, ec);
  if (ec) {
    out.valid = false;
    out.error_code = close_code::protocol_error;
    return out;
  }
  out.reason = websocketpp::close::extract_reason(bytes, ec);
  if (ec) {
    // extract_reason fails only on invalid UTF-8.
    out.valid = false;
    out.error_code = close_code::invalid_payload;
  }
  return out;
}

}  // namespace chatd::protocol
