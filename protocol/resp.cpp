#include "protocol/resp.hpp"

#include <hiredis/hiredis.h>

#include <charconv>
#include <climits>
#include <new>
#include <stdexcept>

namespace chatd::protocol::resp {

void append_command(std::string& out, std::span<const std::string_view> args) {
  if (args.empty()) throw std::invalid_argument("a Redis command needs at least its name");
  if (args.size() > static_cast<std::size_t>(INT_MAX)) throw std::invalid_argument("too many arguments");
  std::vector<const char*> pointers;
  std::vector<std::size_t> lengths;
  pointers.reserve(args.size());
  lengths.reserve(args.size());
  for (const std::string_view arg : args) {
    // An empty string_view may hold a null pointer, and hiredis memcpy()s from every argument.
    pointers.push_back(arg.empty() ? "" : arg.data());
    lengths.push_back(arg.size());
  }
  char* command = nullptr;
  const int length =
      redisFormatCommandArgv(&command, static_cast<int>(args.size()), pointers.data(), lengths.data());
  // hiredis 0.14 returns -1 only when its allocation failed (hiredis.c, redisFormatCommandArgv).
  if (length < 0) throw std::bad_alloc();
  out.append(command, static_cast<std::size_t>(length));
  redisFreeCommand(command);
}

std::optional<std::string_view> Reply::as_string() const {
  if (type == Type::string || type == Type::status) return std::string_view(text);
  return std::nullopt;
}

std::optional<long long> Reply::as_integer() const {
  if (type == Type::integer) return integer;
  if (type != Type::string && type != Type::status) return std::nullopt;
  // The numbers Redis itself reads as integers (string2ll in its util.c, used by INCR and HINCRBY): an
  // optional '-', then 0 alone or digits without a leading zero; "-0", "+1", " 1" and "01" are not.
  const std::string_view digits = text.starts_with('-') ? std::string_view(text).substr(1) : text;
  if (digits.empty() || (digits[0] == '0' && (digits.size() > 1 || text.size() > 1))) return std::nullopt;
  long long value = 0;
  const char* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, value);
  if (error != std::errc() || stop != end) return std::nullopt;
  return value;
}

struct Reader::Impl {
  redisReader* reader = nullptr;
  // The reader's own object functions, but with createArray bounded (bounded_create_array).
  redisReplyObjectFunctions functions{};
  void* (*default_create_array)(const redisReadTask*, int) = nullptr;
  int refused_array_size = -1;  // set when bounded_create_array refused an array

  Impl() {
    reader = redisReaderCreate();
    if (reader == nullptr) throw std::bad_alloc();
    functions = *reader->fn;
    default_create_array = functions.createArray;
    functions.createArray = &bounded_create_array;
    reader->fn = &functions;
    // hiredis hands reader->privdata to every object function in its task (read.c, processItem).
    reader->privdata = this;
  }
  ~Impl() { redisReaderFree(reader); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  // hiredis 0.14 calloc()s an array's element pointers as soon as it reads the header ("*1000000000\r\n"
  // asks for 8 GB before any element arrives). Returning null makes the reader fail with an
  // out-of-memory error, which next() reports as the refusal it is.
  static void* bounded_create_array(const redisReadTask* task, int elements) {
    auto* impl = static_cast<Impl*>(task->privdata);
    if (static_cast<std::size_t>(elements) > max_array_elements) {
      impl->refused_array_size = elements;
      return nullptr;
    }
    return impl->default_create_array(task, elements);
  }
};

namespace {

Reply convert(const redisReply& from) {
  Reply to;
  switch (from.type) {
    case REDIS_REPLY_STRING:
      to.type = Reply::Type::string;
      break;
    case REDIS_REPLY_STATUS:
      to.type = Reply::Type::status;
      break;
    case REDIS_REPLY_ERROR:
      to.type = Reply::Type::error;
      break;
    case REDIS_REPLY_INTEGER:
      to.type = Reply::Type::integer;
      to.integer = from.integer;
      return to;
    case REDIS_REPLY_NIL:
      to.type = Reply::Type::nil;
      return to;
    case REDIS_REPLY_ARRAY:
      // Recursion is bounded: hiredis refuses a ninth array inside eight (its task stack, read.h rstack).
      to.type = Reply::Type::array;
      to.elements.reserve(from.elements);
      for (std::size_t i = 0; i < from.elements; ++i) to.elements.push_back(convert(*from.element[i]));
      return to;
    default:
      throw ProtocolError("hiredis returned a reply of unknown type " + std::to_string(from.type));
  }
  to.text.assign(from.str, from.len);
  return to;
}

// Frees a reply that hiredis allocated, also when convert() throws.
struct ReplyOwner {
  void* reply;
  ~ReplyOwner() { freeReplyObject(reply); }
};

}  // namespace

Reader::Reader() : impl_(std::make_unique<Impl>()) {}
Reader::~Reader() = default;

void Reader::feed(const char* data, std::size_t size) {
  // A failure here (a reader already in error, or no memory for the buffer) sets reader->err, and the
  // next call of next() throws it.
  if (size > 0) redisReaderFeed(impl_->reader, data, size);
}

std::optional<Reply> Reader::next() {
  void* reply = nullptr;
  if (redisReaderGetReply(impl_->reader, &reply) != REDIS_OK) {
    if (impl_->refused_array_size >= 0) {
      throw ProtocolError("RESP array of " + std::to_string(impl_->refused_array_size) +
                          " elements, over the limit of " + std::to_string(max_array_elements));
    }
    throw ProtocolError(std::string("RESP: ") + impl_->reader->errstr);
  }
  if (reply == nullptr) return std::nullopt;
  const ReplyOwner owner{reply};
  return convert(*static_cast<const redisReply*>(reply));
}

}  // namespace chatd::protocol::resp
