// libFuzzer target: protocol::HttpRequestReader as server/http/ drives a keep-alive connection: bytes
// arrive in chunks, each complete request is taken and the rest of the chunk feeds a new reader
// (pipelining). Oracles: feed() never uses more than it is given; a request's head never takes more
// bytes than max_header_size plus its blank line, and its body is at most max_body_size and exactly its
// Content-Length; a failure has one of the documented statuses; a complete request written out again
// (request line, the headers the server reads, body) reads back to the same fields.
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "protocol/http_request.hpp"
#include "test/fuzz/check.hpp"

namespace {

constexpr std::string_view read_headers[] = {"Host",       "Content-Length",    "Content-Type",
                                             "Connection", "Upgrade",           "Origin",
                                             "Expect",     "Sec-WebSocket-Key", "Sec-WebSocket-Version"};

std::string serialize(const chatd::protocol::HttpRequestReader& request) {
  std::string out = request.method() + " " + request.target() + " " + request.version() + "\r\n";
  for (const auto name : read_headers) {
    const auto& value = request.header(name);
    if (!value.empty()) out += std::string(name) + ": " + value + "\r\n";
  }
  return out + "\r\n" + request.body();
}

void check_same(const chatd::protocol::HttpRequestReader& a, const chatd::protocol::HttpRequestReader& b) {
  FUZZ_CHECK(a.method() == b.method());
  FUZZ_CHECK(a.target() == b.target());
  FUZZ_CHECK(a.version() == b.version());
  for (const auto name : read_headers) FUZZ_CHECK(a.header(name) == b.header(name));
  FUZZ_CHECK(a.body() == b.body());
  FUZZ_CHECK(a.keep_alive() == b.keep_alive());
  FUZZ_CHECK(a.is_websocket_upgrade() == b.is_websocket_upgrade());
}

// A request whose fields hold CR, LF, NUL or another control character cannot be written back as the
// same request: RFC 9112 5.5 forbids them in a field value (strict parsing refuses them with 400).
bool has_control(std::string_view text) {
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if ((byte < 0x20 && byte != '\t') || byte == 0x7f) return true;
  }
  return false;
}
bool reserializable(const chatd::protocol::HttpRequestReader& request) {
  if (has_control(request.method()) || has_control(request.target()) || has_control(request.version())) {
    return false;
  }
  for (const auto name : read_headers) {
    const auto& value = request.header(name);
    if (has_control(value)) return false;
    // Nor one with whitespace at either end (RFC 9112 5.1: it is not part of the value). websocketpp
    // joins a repeated field with ", ", so "Host: a" then "Host: " reads as "a, ".
    if (!value.empty() &&
        (value.front() == ' ' || value.front() == '\t' || value.back() == ' ' || value.back() == '\t')) {
      return false;
    }
  }
  return true;
}

void check_round_trip(const chatd::protocol::HttpRequestReader& request, std::size_t max_header,
                      std::size_t max_body) {
  chatd::protocol::HttpRequestReader again(max_header + 4096, max_body);
  const std::string written = serialize(request);
  FUZZ_CHECK(again.feed(written) == written.size());
  FUZZ_CHECK(again.state() == chatd::protocol::HttpRequestReader::State::complete);
  check_same(request, again);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using chatd::protocol::HttpRequestReader;
  if (size < 3) return 0;
  const std::size_t chunk = static_cast<std::size_t>(data[0]) + 1;
  // Small limits the fuzzer can reach, or the defaults' order of magnitude.
  const std::size_t max_header = data[1] < 0x80 ? 16 + static_cast<std::size_t>(data[1]) * 4 : 12 * 1024;
  const std::size_t max_body = data[2] < 0x80 ? static_cast<std::size_t>(data[2]) : 64 * 1024;
  const std::string_view input(reinterpret_cast<const char*>(data + 3), size - 3);

  auto reader = std::make_unique<HttpRequestReader>(max_header, max_body);
  std::size_t request_start = 0;  // where the current request's bytes began
  std::size_t offset = 0;
  int requests = 0;
  while (offset < input.size() && requests < 64) {
    const std::size_t end = std::min(input.size(), offset + chunk);
    while (offset < end) {
      const std::size_t used = reader->feed(input.substr(offset, end - offset));
      FUZZ_CHECK(used <= end - offset);
      offset += used;
      const auto state = reader->state();
      if (state == HttpRequestReader::State::failed) {
        const int status = reader->error_status();
        // 501: a Transfer-Encoding, which chatd does not decode (RFC 9112 6.1).
        FUZZ_CHECK(status == 400 || status == 411 || status == 413 || status == 431 || status == 501 ||
                   status == 505);
        FUZZ_CHECK(!reader->error_message().empty());
        return 0;  // the server answers and closes
      }
      if (state != HttpRequestReader::State::complete) {
        FUZZ_CHECK(offset == end);
        break;
      }
      // One request: its bytes are input[request_start, offset).
      const std::size_t taken = offset - request_start;
      const auto& body = reader->body();
      FUZZ_CHECK(body.size() <= max_body);
      FUZZ_CHECK(taken >= body.size());
      FUZZ_CHECK(taken - body.size() <= max_header + 4);
      const auto& length = reader->header("Content-Length");
      if (!length.empty()) {
        // 1*DIGIT (RFC 9110 8.6): leading zeros are allowed, so compare numbers.
        std::uint64_t declared = 0;
        const auto [end_of_number, error] =
            std::from_chars(length.data(), length.data() + length.size(), declared);
        FUZZ_CHECK(error == std::errc() && end_of_number == length.data() + length.size());
        FUZZ_CHECK(declared == body.size());
      }

      if (reserializable(*reader)) check_round_trip(*reader, max_header, max_body);

      ++requests;
      request_start = offset;
      reader = std::make_unique<HttpRequestReader>(max_header, max_body);
    }
  }
  return 0;
}
