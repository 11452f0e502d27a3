// libFuzzer target: protocol::resp::Reader as server/cluster's connections drive it, bytes arriving in
// pieces. Oracles: the same bytes fed in one piece and in two (cut where byte 0 says) give the same
// replies and fail at the same point; a reply that is an array of strings, written back as a command by
// append_command, reads back as the same reply.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/resp.hpp"
#include "test/fuzz/check.hpp"

namespace {

using chatd::protocol::resp::ProtocolError;
using chatd::protocol::resp::Reader;
using chatd::protocol::resp::Reply;

struct Outcome {
  std::vector<Reply> replies;
  bool refused = false;
};

void drain(Reader& reader, Outcome& outcome) {
  if (outcome.refused) return;
  try {
    while (auto reply = reader.next()) outcome.replies.push_back(std::move(*reply));
  } catch (const ProtocolError&) {
    outcome.refused = true;
  }
}

Outcome read_in_pieces(std::string_view bytes, std::size_t cut) {
  Reader reader;
  Outcome outcome;
  reader.feed(bytes.data(), cut);
  drain(reader, outcome);
  reader.feed(bytes.data() + cut, bytes.size() - cut);
  drain(reader, outcome);
  return outcome;
}

void check_command_round_trip(const Reply& reply) {
  if (reply.type != Reply::Type::array || reply.elements.empty()) return;
  std::vector<std::string_view> args;
  for (const Reply& element : reply.elements) {
    if (element.type != Reply::Type::string) return;
    args.push_back(element.text);
  }
  std::string command;
  chatd::protocol::resp::append_command(command, args);
  Reader reader;
  reader.feed(command.data(), command.size());
  const std::optional<Reply> back = reader.next();
  FUZZ_CHECK(back.has_value() && *back == reply);
  FUZZ_CHECK(!reader.next().has_value());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::size_t cut = bytes.empty() ? 0 : data[0] % (bytes.size() + 1);

  const Outcome whole = read_in_pieces(bytes, bytes.size());
  const Outcome split = read_in_pieces(bytes, cut);
  FUZZ_CHECK(whole.refused == split.refused);
  FUZZ_CHECK(whole.replies == split.replies);
  for (const Reply& reply : whole.replies) check_command_round_trip(reply);
  return 0;
}
