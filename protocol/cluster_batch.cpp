#include "protocol/cluster_batch.hpp"

#include <charconv>
#include <limits>
#include <type_traits>

namespace chatd::protocol {

namespace {

// The shortest event a payload can hold, "0 0 0 0\n": a count claiming more events than the rest of the
// payload has room for is refused before anything is reserved for them.
constexpr std::size_t min_event_size = 8;

// Reads a payload front to back; every read either takes exactly what the format says or fails.
class BatchCursor {
 public:
  explicit BatchCursor(std::string_view payload) : rest_(payload) {}

  std::size_t remaining() const { return rest_.size(); }

  bool take_literal(char c) {
    if (rest_.empty() || rest_.front() != c) return false;
    rest_.remove_prefix(1);
    return true;
  }

  // The bytes up to (not including) `delimiter`, which is consumed too; nullopt when it never comes.
  std::optional<std::string_view> take_until(char delimiter) {
    const auto end = rest_.find(delimiter);
    if (end == std::string_view::npos) return std::nullopt;
    const std::string_view field = rest_.substr(0, end);
    rest_.remove_prefix(end + 1);
    return field;
  }

  std::optional<std::string_view> take_bytes(std::size_t size) {
    if (size > rest_.size()) return std::nullopt;
    const std::string_view bytes = rest_.substr(0, size);
    rest_.remove_prefix(size);
    return bytes;
  }

  // A decimal number in its one canonical spelling (what std::to_chars writes, and so what
  // format_cluster_batch writes): 0 alone or no leading zero, '-' only for a signed type and never on 0,
  // no '+' or spaces. So a parsed batch formats back to the very bytes it came from.
  template <typename Integer>
  std::optional<Integer> take_number(char delimiter) {
    const auto field = take_until(delimiter);
    if (!field) return std::nullopt;
    std::string_view digits = *field;
    if constexpr (std::is_signed_v<Integer>) {
      if (digits.starts_with('-')) digits.remove_prefix(1);
    }
    if (digits.empty() || (digits[0] == '0' && (digits.size() > 1 || field->size() > 1))) return std::nullopt;
    if (digits.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
    Integer value{};
    const auto [stop, error] = std::from_chars(field->data(), field->data() + field->size(), value);
    if (error != std::errc() || stop != field->data() + field->size()) return std::nullopt;  // out of range
    return value;
  }

 private:
  std::string_view rest_;
};

std::optional<ClusterEvent> parse_event(BatchCursor& cursor) {
  ClusterEvent event;
  const auto ts = cursor.take_number<std::int64_t>(' ');
  const auto type = cursor.take_number<std::uint8_t>(' ');
  if (!ts || !type || *type > 2) return std::nullopt;
  const auto name_bytes = cursor.take_number<std::size_t>(' ');
  const auto text_bytes = cursor.take_number<std::size_t>('\n');
  if (!name_bytes || !text_bytes) return std::nullopt;
  // Checked against the payload before a byte is copied: take_bytes refuses a length past its end.
  const auto name = cursor.take_bytes(*name_bytes);
  if (!name) return std::nullopt;
  const auto text = cursor.take_bytes(*text_bytes);
  if (!text) return std::nullopt;
  event.ts = *ts;
  event.type = *type;
  event.name.assign(*name);
  event.text.assign(*text);
  return event;
}

template <typename Integer>
void append_number(std::string& out, Integer value) {
  char digits[24];  // the longest int64/uint64 is 20 characters with its sign
  out.append(digits, std::to_chars(digits, digits + sizeof digits, value).ptr);
}

}  // namespace

std::optional<ClusterBatch> parse_cluster_batch(std::string_view payload) {
  BatchCursor cursor(payload);
  if (!cursor.take_literal('B') || !cursor.take_literal(' ')) return std::nullopt;
  // The epoch is the bytes up to the next space: one with a space cannot be told from the fields after
  // it, and one with a newline would end the header line.
  const auto epoch = cursor.take_until(' ');
  if (!epoch || epoch->empty() || epoch->find('\n') != std::string_view::npos) return std::nullopt;
  const auto first_id = cursor.take_number<std::uint64_t>(' ');
  const auto count = cursor.take_number<std::uint64_t>('\n');
  if (!first_id || *first_id == 0 || !count) return std::nullopt;
  // Ids run first_id .. first_id + count - 1: the last one must exist.
  if (*count > 0 && *count - 1 > std::numeric_limits<std::uint64_t>::max() - *first_id) return std::nullopt;
  if (*count > cursor.remaining() / min_event_size) return std::nullopt;

  ClusterBatch batch;
  batch.epoch.assign(*epoch);
  batch.first_id = *first_id;
  batch.events.reserve(static_cast<std::size_t>(*count));
  for (std::uint64_t i = 0; i < *count; ++i) {
    auto event = parse_event(cursor);
    if (!event) return std::nullopt;
    batch.events.push_back(std::move(*event));
  }
  if (cursor.remaining() != 0) return std::nullopt;
  return batch;
}

std::string format_cluster_batch(const ClusterBatch& batch) {
  std::string out = "B ";
  out += batch.epoch;
  out += ' ';
  append_number(out, batch.first_id);
  out += ' ';
  append_number(out, batch.events.size());
  out += '\n';
  for (const ClusterEvent& event : batch.events) {
    append_number(out, event.ts);
    out += ' ';
    append_number(out, static_cast<unsigned>(event.type));
    out += ' ';
    append_number(out, event.name.size());
    out += ' ';
    append_number(out, event.text.size());
    out += '\n';
    out += event.name;
    out += event.text;
  }
  return out;
}

}  // namespace chatd::protocol
