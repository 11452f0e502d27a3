// RESP, the Redis wire protocol (https://redis.io/docs/reference/protocol-spec/), through hiredis used as
// a codec only: redisFormatCommandArgv writes commands, redisReader parses replies. Sockets, pipelining
// and timeouts are chatd's own (server/cluster/redis_connection.hpp), as websocketpp is used for frames.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace chatd::protocol::resp {

// Appends one command (an array of bulk strings) to `out`: `args` are binary-safe. Throws
// std::invalid_argument when `args` is empty (no command name).
void append_command(std::string& out, std::span<const std::string_view> args);

struct Reply {
  enum class Type { string, status, error, integer, nil, array };
  Type type = Type::nil;
  std::string text;             // string, status, error
  long long integer = 0;        // integer
  std::vector<Reply> elements;  // array (a RESP2 push, such as a pub/sub message, is an array too)

  bool is_error() const { return type == Type::error; }
  // `text` of a string or status; nullopt for any other type.
  std::optional<std::string_view> as_string() const;
  // An integer reply, or a string/status that is a whole decimal number; nullopt otherwise.
  std::optional<long long> as_integer() const;

  friend bool operator==(const Reply&, const Reply&) = default;
};

// The peer sent bytes that are not RESP (hiredis' reader is then unusable: drop the connection).
class ProtocolError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The most elements one array may claim. hiredis allocates an array's element pointers when it reads the
// count, before the elements arrive; no reply chatd asks for comes near this (its XRANGE pages are at most
// 1000 entries), so a larger count is taken for what it is, bytes that are not a Redis reply.
inline constexpr std::size_t max_array_elements = std::size_t{1} << 20;

// Parses replies from a byte stream fed in pieces of any size. Not thread-safe; one per connection.
// After a ProtocolError the stream cannot be resynchronised: next() throws again, whatever is fed.
class Reader {
 public:
  Reader();
  ~Reader();
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  void feed(const char* data, std::size_t size);
  // The next complete reply, or nullopt until more bytes are fed. Throws ProtocolError.
  std::optional<Reply> next();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace chatd::protocol::resp
