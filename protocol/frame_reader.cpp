#include "protocol/frame_reader.hpp"

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

struct FrameReader::Impl {
  explicit Impl(std::size_t max_message_size) : processor(false, true, shared_manager(), shared_rng()) {
    processor.set_max_message_size(max_message_size);
  }
  Processor processor;
  WebsocketConfig::message_type::ptr message;  // complete, not yet taken
};

FrameReader::FrameReader(std::size_t max_message_size) : max_message_size_(max_message_size) {}

void FrameReader::release_if_idle() {
  if (impl_ && !impl_->message && impl_->processor.between_messages()) impl_.reset();
}
FrameReader::~FrameReader() = default;

FrameReader::Status FrameReader::fail(std::uint16_t code, std::string reason) {
  error_code_ = code;
  error_reason_ = std::move(reason);
  return Status::error;
}

FrameReader::Status FrameReader::feed(std::uint8_t* data, std::size_t size, std::size_t& used) {
  namespace error = websocketpp::processor::error;
  if (!impl_) impl_ = std::make_unique<Impl>(max_message_size_);
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
  if (ec) out.valid = false;
  out.reason = websocketpp::close::extract_reason(bytes, ec);
  if (ec) out.valid = false;
  return out;
}

}  // namespace chatd::protocol
