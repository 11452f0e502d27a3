// RESP through hiredis (protocol/resp): commands with binary arguments, every reply type, replies cut at
// every byte, nesting, pub/sub pushes, the refusals that make a Reader throw, and a RESP2 session recorded
// from a real redis-server 7.0.15 (Debian 12) so the reader is checked against bytes Redis really sends.
#include <doctest/doctest.h>

#include <array>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/resp.hpp"

using namespace chatd::protocol::resp;
using namespace std::string_literals;
using Type = Reply::Type;

namespace {

std::string command(std::initializer_list<std::string_view> args) {
  std::string out;
  const std::vector<std::string_view> list(args);
  append_command(out, list);
  return out;
}

// Every reply in `bytes`, fed in pieces of `piece` bytes; fails the test when bytes are left over.
std::vector<Reply> replies_of(std::string_view bytes, std::size_t piece) {
  Reader reader;
  std::vector<Reply> replies;
  for (std::size_t offset = 0; offset < bytes.size(); offset += piece) {
    const std::string_view part = bytes.substr(offset, piece);
    reader.feed(part.data(), part.size());
    while (auto reply = reader.next()) replies.push_back(std::move(*reply));
  }
  CHECK_FALSE(reader.next().has_value());
  return replies;
}

Reply one_reply(std::string_view bytes) {
  const auto replies = replies_of(bytes, bytes.size());
  REQUIRE(replies.size() == 1);
  return replies[0];
}

Reply text_reply(Type type, std::string text) {
  Reply reply;
  reply.type = type;
  reply.text = std::move(text);
  return reply;
}
Reply bulk(std::string text) {
  return text_reply(Type::string, std::move(text));
}
Reply status(std::string text) {
  return text_reply(Type::status, std::move(text));
}
Reply error(std::string text) {
  return text_reply(Type::error, std::move(text));
}
Reply integer(long long value) {
  Reply reply;
  reply.type = Type::integer;
  reply.integer = value;
  return reply;
}
Reply nil() {
  return Reply{};
}
Reply array(std::vector<Reply> elements) {
  Reply reply;
  reply.type = Type::array;
  reply.elements = std::move(elements);
  return reply;
}

// Feeds `bytes` whole and expects next() to throw ProtocolError, and to keep throwing after more bytes.
void check_refused(std::string_view bytes) {
  CAPTURE(bytes);
  Reader reader;
  reader.feed(bytes.data(), bytes.size());
  CHECK_THROWS_AS(reader.next(), ProtocolError);
  reader.feed("+OK\r\n", 5);
  CHECK_THROWS_AS(reader.next(), ProtocolError);
}

}  // namespace

TEST_CASE("resp: a command is an array of bulk strings") {
  CHECK(command({"SET", "k", "v"}) == "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
  CHECK(command({"PING"}) == "*1\r\n$4\r\nPING\r\n");
  // append_command appends: a pipeline is several commands in one buffer.
  std::string pipeline = "*1\r\n$4\r\nPING\r\n";
  const std::array<std::string_view, 2> get = {"GET", "k"};
  append_command(pipeline, get);
  CHECK(pipeline == "*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
}

TEST_CASE("resp: binary arguments (NUL, CRLF, empty) keep their bytes and lengths") {
  const std::string nul_arg = "a\0b"s;
  const std::string crlf_arg = "line\r\n$5\r\n*1\r\n";
  const std::string formatted = command({"SET", nul_arg, "", crlf_arg, "\0"s});
  CHECK(formatted ==
        "*5\r\n$3\r\nSET\r\n$3\r\na\0b\r\n$0\r\n\r\n$14\r\nline\r\n$5\r\n*1\r\n\r\n$1\r\n\0\r\n"s);
  // A command is a reply-shaped array too: the reader gives back exactly the arguments.
  CHECK(one_reply(formatted) == array({bulk("SET"), bulk(nul_arg), bulk(""), bulk(crlf_arg), bulk("\0"s)}));
  // A null data pointer with size 0 (a default string_view) is an empty argument.
  CHECK(command({"GET", std::string_view()}) == "*2\r\n$3\r\nGET\r\n$0\r\n\r\n");
}

TEST_CASE("resp: a command without a name is refused") {
  std::string out = "kept";
  CHECK_THROWS_AS(append_command(out, std::span<const std::string_view>()), std::invalid_argument);
  CHECK(out == "kept");
}

TEST_CASE("resp: each reply type") {
  CHECK(one_reply("+OK\r\n") == status("OK"));
  CHECK(one_reply("-ERR wrong\r\n") == error("ERR wrong"));
  CHECK(one_reply(":42\r\n") == integer(42));
  CHECK(one_reply(":-7\r\n") == integer(-7));
  CHECK(one_reply("$5\r\nhello\r\n") == bulk("hello"));
  CHECK(one_reply("$0\r\n\r\n") == bulk(""));
  CHECK(one_reply("$-1\r\n") == nil());
  CHECK(one_reply("*-1\r\n") == nil());  // RESP2's null array
  CHECK(one_reply("*0\r\n") == array({}));
  CHECK(one_reply("-ERR wrong\r\n").is_error());
  CHECK_FALSE(one_reply("+ERR not an error\r\n").is_error());
}

TEST_CASE("resp: integers at the ends of 64 bits") {
  CHECK(one_reply(":9223372036854775807\r\n") == integer(9223372036854775807LL));
  CHECK(one_reply(":-9223372036854775808\r\n") == integer(-9223372036854775807LL - 1));
  check_refused(":9223372036854775808\r\n");
  check_refused(":-9223372036854775809\r\n");
  check_refused(":99999999999999999999\r\n");
}

TEST_CASE("resp: nested arrays, with nil and errors inside") {
  const auto reply = one_reply("*3\r\n*2\r\n:1\r\n*1\r\n$-1\r\n-ERR inner\r\n*2\r\n*0\r\n$1\r\nx\r\n");
  CHECK(reply ==
        array({array({integer(1), array({nil()})}), error("ERR inner"), array({array({}), bulk("x")})}));
  // An error inside an array does not make the array an error.
  CHECK_FALSE(reply.is_error());
  // Eight arrays, one in the other, are hiredis' deepest (its task stack holds nine: read.h, rstack).
  std::string deep;
  for (int i = 0; i < 8; ++i) deep += "*1\r\n";
  deep += ":5\r\n";
  Reply expected = integer(5);
  for (int i = 0; i < 8; ++i) expected = array({expected});
  CHECK(one_reply(deep) == expected);
}

TEST_CASE("resp: a pub/sub message is an array of three bulk strings") {
  const std::string payload = "B e 1 1\n1 0 1 2\nah\0"s;
  const std::string push = "*3\r\n$7\r\nmessage\r\n$9\r\nchatd:{r}\r\n$19\r\n"s + payload + "\r\n";
  CHECK(payload.size() == 19);
  CHECK(one_reply(push) == array({bulk("message"), bulk("chatd:{r}"), bulk(payload)}));
}

TEST_CASE("resp: a reply cut at every byte position, and fed one byte at a time") {
  const std::string stream =
      "+OK\r\n"
      "*2\r\n$3\r\nab\n\r\n*2\r\n:-12\r\n$-1\r\n"
      "-ERR x\r\n"
      "$4\r\n\r\n\r\n\r\n"
      ":9223372036854775807\r\n";
  const std::vector<Reply> expected = {status("OK"), array({bulk("ab\n"), array({integer(-12), nil()})}),
                                       error("ERR x"), bulk("\r\n\r\n"), integer(9223372036854775807LL)};
  CHECK(replies_of(stream, stream.size()) == expected);
  CHECK(replies_of(stream, 1) == expected);
  for (std::size_t cut = 1; cut < stream.size(); ++cut) {
    CAPTURE(cut);
    Reader reader;
    std::vector<Reply> replies;
    reader.feed(stream.data(), cut);
    while (auto reply = reader.next()) replies.push_back(std::move(*reply));
    CHECK(replies.size() < expected.size());
    reader.feed(stream.data() + cut, stream.size() - cut);
    while (auto reply = reader.next()) replies.push_back(std::move(*reply));
    CHECK(replies == expected);
  }
}

TEST_CASE("resp: nothing is returned before a reply is complete") {
  Reader reader;
  CHECK_FALSE(reader.next().has_value());
  reader.feed("$5\r\nhel", 7);
  CHECK_FALSE(reader.next().has_value());
  reader.feed("lo\r", 3);
  CHECK_FALSE(reader.next().has_value());  // the payload is in, its CRLF is not yet
  reader.feed("\n", 1);
  CHECK(reader.next() == bulk("hello"));
  CHECK_FALSE(reader.next().has_value());
  reader.feed("+OK\n", 4);  // a bare LF does not end a line
  CHECK_FALSE(reader.next().has_value());
}

TEST_CASE("resp: bytes that are not RESP throw ProtocolError") {
  check_refused("?\r\n");              // no such type byte
  check_refused("hello\r\n");          // an inline command is not a reply
  check_refused(":\r\n");              // empty integer
  check_refused(":12a\r\n");           // not a number
  check_refused(":+3\r\n");            // no '+' sign
  check_refused(":1 2\r\n");           // a space inside
  check_refused("$x\r\n");             // bad bulk length
  check_refused("$-2\r\n");            // below -1
  check_refused("$03\r\nabc\r\n");     // leading zero
  check_refused("*x\r\n");             // bad array length
  check_refused("*-2\r\n");            // below -1
  check_refused("*2\r\n:1\r\n?\r\n");  // a bad element after a good one
  std::string too_deep;
  for (int i = 0; i < 9; ++i) too_deep += "*1\r\n";
  check_refused(too_deep + ":1\r\n");
}

TEST_CASE("resp: an array count over max_array_elements is refused before any element arrives") {
  check_refused("*1000000000\r\n");
  check_refused("*" + std::to_string(max_array_elements + 1) + "\r\n");
  check_refused("*2\r\n*1048577\r\n");  // nested too
  Reader reader;
  reader.feed("*1000000000\r\n", 13);
  try {
    reader.next();
    FAIL("no ProtocolError");
  } catch (const ProtocolError& refusal) {
    CHECK(std::string(refusal.what()).find("1000000000") != std::string::npos);
  }
  // At the limit the reader waits for the elements, as for any other array.
  Reader at_limit;
  const std::string header = "*" + std::to_string(max_array_elements) + "\r\n:1\r\n";
  at_limit.feed(header.data(), header.size());
  CHECK_FALSE(at_limit.next().has_value());
}

TEST_CASE("resp: as_string and as_integer") {
  CHECK(bulk("a\0b"s).as_string() == "a\0b"s);
  CHECK(status("OK").as_string() == "OK");
  CHECK_FALSE(error("ERR").as_string().has_value());
  CHECK_FALSE(integer(1).as_string().has_value());
  CHECK_FALSE(nil().as_string().has_value());
  CHECK_FALSE(array({bulk("x")}).as_string().has_value());

  CHECK(integer(-5).as_integer() == -5);
  CHECK(bulk("42").as_integer() == 42);
  CHECK(status("7").as_integer() == 7);
  CHECK(bulk("0").as_integer() == 0);
  CHECK(bulk("-12").as_integer() == -12);
  CHECK(bulk("9223372036854775807").as_integer() == 9223372036854775807LL);
  CHECK(bulk("-9223372036854775808").as_integer() == -9223372036854775807LL - 1);
  // Only what Redis itself reads as an integer (string2ll).
  for (const char* text : {"", "-", "+1", " 1", "1 ", "01", "-0", "00", "1.0", "1e3", "0x10",
                           "9223372036854775808", "-9223372036854775809", "12a"}) {
    CAPTURE(text);
    CHECK_FALSE(bulk(text).as_integer().has_value());
  }
  CHECK_FALSE(bulk("1\0"s).as_integer().has_value());
  CHECK_FALSE(error("1").as_integer().has_value());
  CHECK_FALSE(nil().as_integer().has_value());
  CHECK_FALSE(array({integer(1)}).as_integer().has_value());
}

// Recorded from redis-server 7.0.15 over a Unix socket, RESP2 (no HELLO): the replies to, in order,
// FLUSHALL; SET chatd:{r}:k "v\r\n\0\r\n"; GET it; GET a missing key; SET an empty value; GET it;
// INCRBY chatd:{r}:n 9223372036854775806; INCR twice (the second overflows); DECRBY chatd:{r}:m
// 9223372036854775807; DECR; HGET on the string key; XADD chatd:{r}:log 1-0 ts 1700000000000 type 0
// name alice text "hi\r\nthere"; XADD 2-0 ... name bob text ""; XRANGE - +; XRANGE (2-0 +;
// EVAL "return {1, 'two', {3, {false, -4}}, redis.status_reply('QUEUED'), {}}" 0;
// EVAL "return redis.error_reply('NOSCRIPT No matching script')" 0; NOSUCHCOMMAND.
const std::string recorded_commands =
    "+OK\r\n"
    "+OK\r\n"
    "$6\r\nv\r\n\0\r\n\r\n"
    "$-1\r\n"
    "+OK\r\n"
    "$0\r\n\r\n"
    ":9223372036854775806\r\n"
    ":9223372036854775807\r\n"
    "-ERR increment or decrement would overflow\r\n"
    ":-9223372036854775807\r\n"
    ":-9223372036854775808\r\n"
    "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    "$3\r\n1-0\r\n"
    "$3\r\n2-0\r\n"
    "*2\r\n"
    "*2\r\n$3\r\n1-0\r\n*8\r\n$2\r\nts\r\n$13\r\n1700000000000\r\n$4\r\ntype\r\n$1\r\n0\r\n"
    "$4\r\nname\r\n$5\r\nalice\r\n$4\r\ntext\r\n$9\r\nhi\r\nthere\r\n"
    "*2\r\n$3\r\n2-0\r\n*8\r\n$2\r\nts\r\n$13\r\n1700000000001\r\n$4\r\ntype\r\n$1\r\n1\r\n"
    "$4\r\nname\r\n$3\r\nbob\r\n$4\r\ntext\r\n$0\r\n\r\n"
    "*0\r\n"
    "*5\r\n:1\r\n$3\r\ntwo\r\n*2\r\n:3\r\n*2\r\n$-1\r\n:-4\r\n+QUEUED\r\n*0\r\n"
    "-NOSCRIPT No matching script\r\n"
    "-ERR unknown command 'NOSUCHCOMMAND', with args beginning with: \r\n"s;

// The same server, a second connection: SUBSCRIBE chatd:{r}; then the first connection PUBLISHed a
// 64-byte cluster batch with a NUL and CRLF in it; PING in subscribed mode; UNSUBSCRIBE.
const std::string recorded_subscriber =
    "*3\r\n$9\r\nsubscribe\r\n$9\r\nchatd:{r}\r\n:1\r\n"
    "*3\r\n$7\r\nmessage\r\n$9\r\nchatd:{r}\r\n"
    "$64\r\nB e1 3 2\n1700000000002 0 5 7\nalice\0\r\n a\nb1700000000003 2 3 0\nbob\r\n"
    "*2\r\n$4\r\npong\r\n$0\r\n\r\n"
    "*3\r\n$11\r\nunsubscribe\r\n$9\r\nchatd:{r}\r\n:0\r\n"s;

TEST_CASE("resp: a command session recorded from redis-server") {
  const auto entry = [](const char* id, const char* ts, const char* type, const char* name,
                        std::string text) {
    return array({bulk(id), array({bulk("ts"), bulk(ts), bulk("type"), bulk(type), bulk("name"), bulk(name),
                                   bulk("text"), bulk(std::move(text))})});
  };
  const std::vector<Reply> expected = {
      status("OK"),
      status("OK"),
      bulk("v\r\n\0\r\n"s),
      nil(),
      status("OK"),
      bulk(""),
      integer(9223372036854775806LL),
      integer(9223372036854775807LL),
      error("ERR increment or decrement would overflow"),
      integer(-9223372036854775807LL),
      integer(-9223372036854775807LL - 1),
      error("WRONGTYPE Operation against a key holding the wrong kind of value"),
      bulk("1-0"),
      bulk("2-0"),
      array({entry("1-0", "1700000000000", "0", "alice", "hi\r\nthere"),
             entry("2-0", "1700000000001", "1", "bob", "")}),
      array({}),
      array({integer(1), bulk("two"), array({integer(3), array({nil(), integer(-4)})}), status("QUEUED"),
             array({})}),
      error("NOSCRIPT No matching script"),
      error("ERR unknown command 'NOSUCHCOMMAND', with args beginning with: "),
  };
  CHECK(replies_of(recorded_commands, recorded_commands.size()) == expected);
  for (const std::size_t piece : {1, 2, 3, 5, 7, 64}) {
    CAPTURE(piece);
    CHECK(replies_of(recorded_commands, piece) == expected);
  }
  const auto ids = replies_of(recorded_commands, recorded_commands.size());
  CHECK(ids[7].as_integer() == 9223372036854775807LL);
  CHECK(ids[14].elements[1].elements[1].elements[3].as_integer() == 1);  // the second entry's type
}

TEST_CASE("resp: a subscriber session recorded from redis-server") {
  const std::string payload = "B e1 3 2\n1700000000002 0 5 7\nalice\0\r\n a\nb1700000000003 2 3 0\nbob"s;
  REQUIRE(payload.size() == 64);
  const std::vector<Reply> expected = {
      array({bulk("subscribe"), bulk("chatd:{r}"), integer(1)}),
      array({bulk("message"), bulk("chatd:{r}"), bulk(payload)}),
      array({bulk("pong"), bulk("")}),  // RESP2 answers PING in subscribed mode with a push
      array({bulk("unsubscribe"), bulk("chatd:{r}"), integer(0)}),
  };
  for (std::size_t cut = 0; cut <= recorded_subscriber.size(); ++cut) {
    CAPTURE(cut);
    Reader reader;
    std::vector<Reply> replies;
    reader.feed(recorded_subscriber.data(), cut);
    while (auto reply = reader.next()) replies.push_back(std::move(*reply));
    reader.feed(recorded_subscriber.data() + cut, recorded_subscriber.size() - cut);
    while (auto reply = reader.next()) replies.push_back(std::move(*reply));
    CHECK(replies == expected);
  }
}
