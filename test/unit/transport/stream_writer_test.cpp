// StreamWriter over a real loopback TCP connection: what is queued goes out in one flush, frame by frame
// in order; when the socket is full the write loop takes over, with its deadline showing, until a late
// reader has it all; the close frame is written last and reported once.
#include <doctest/doctest.h>

#include <chrono>
#include <exception>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/socket_base.hpp>

#include "protocol/frame_builder.hpp"
#include "server/rooms/outbound_queue.hpp"
#include "server/transport/stream_writer.hpp"

using namespace chatd;

namespace {

using Clock = std::chrono::steady_clock;

struct SocketPair {
  asio::ip::tcp::socket writer;
  asio::ip::tcp::socket reader;
};

// A connected pair over loopback; the writer side non-blocking, as sessions set it after the handshake.
SocketPair connected_pair(asio::io_context& context) {
  asio::ip::tcp::acceptor acceptor(context, {asio::ip::address_v4::loopback(), 0});
  asio::ip::tcp::socket reader(context);
  reader.connect(acceptor.local_endpoint());
  asio::ip::tcp::socket writer = acceptor.accept();
  writer.non_blocking(true);
  return {std::move(writer), std::move(reader)};
}

// The owner: a queue, and a record of what the writer reported. Like a session, it half-closes the
// socket once the close frame is written, so the reader sees the end.
class FakeOwner : public StreamWriter::Owner {
 public:
  explicit FakeOwner(asio::ip::tcp::socket& socket) : socket_(socket) {}

  SharedFrame close_frame(std::uint16_t code, std::string_view reason) override {
    return protocol::share(protocol::close_frame(code, reason));
  }
  void close_frame_written() override {
    ++close_frames_written;
    asio::error_code ignored;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  }
  void write_failed() override { ++write_failures; }
  void write_threw(const std::exception&) override { ++write_exceptions; }
  std::shared_ptr<void> keep_alive() override {
    ++keep_alives;
    return alive;
  }

  OutboundQueue queue{1000};
  std::shared_ptr<int> alive = std::make_shared<int>(0);
  int close_frames_written = 0;
  int write_failures = 0;
  int write_exceptions = 0;
  int keep_alives = 0;

 private:
  asio::ip::tcp::socket& socket_;
};

std::vector<SharedFrame> frames_of(int count, std::size_t size) {
  std::vector<SharedFrame> frames;
  for (int i = 0; i < count; ++i) {
    frames.push_back(
        protocol::share(protocol::text_frame(std::string(size, static_cast<char>('a' + i % 26)))));
  }
  return frames;
}

std::string bytes_of(const std::vector<SharedFrame>& frames) {
  std::string out;
  for (const auto& frame : frames) out += *frame;
  return out;
}

// Everything the reader gets until the writer's side ends.
std::string read_to_end(asio::ip::tcp::socket& reader) {
  std::string out;
  asio::error_code ec;
  asio::read(reader, asio::dynamic_buffer(out), ec);
  CHECK(ec == asio::error::eof);
  return out;
}

}  // namespace

TEST_CASE("stream writer: a queue drained in one flush, in order, the close frame last") {
  asio::io_context context;
  auto sockets = connected_pair(context);
  FakeOwner owner(sockets.writer);
  StreamWriter writer(sockets.writer, owner.queue, owner);

  const auto frames = frames_of(20, 100);
  REQUIRE(owner.queue.push(frames).wake);
  REQUIRE(!owner.queue.close(1000, "bye", true));  // the writer is already woken
  writer.flush();

  // All of it went out from flush() itself: no write loop, no write in flight.
  CHECK(!writer.writing_async());
  CHECK(writer.stalled_since() == Clock::time_point{});
  CHECK(owner.keep_alives == 0);
  CHECK(owner.close_frames_written == 1);
  CHECK(read_to_end(sockets.reader) == bytes_of(frames) + protocol::close_frame(1000, "bye"));
  CHECK(owner.write_failures == 0);
  CHECK(owner.write_exceptions == 0);
}

TEST_CASE(
    "stream writer: the write loop takes over when the socket is full, until a late reader has it all") {
  asio::io_context context;
  auto sockets = connected_pair(context);
  sockets.writer.set_option(asio::socket_base::send_buffer_size(4096));
  sockets.reader.set_option(asio::socket_base::receive_buffer_size(4096));
  FakeOwner owner(sockets.writer);
  StreamWriter writer(sockets.writer, owner.queue, owner);

  const auto first = frames_of(200, 1000);  // far more than the two socket buffers hold
  REQUIRE(owner.queue.push(first).wake);
  writer.flush();
  CHECK(writer.writing_async());
  CHECK(owner.keep_alives == 1);  // the loop keeps its owner alive
  context.poll();                 // the loop starts, and waits for the socket
  CHECK(writer.stalled_since() != Clock::time_point{});
  CHECK(writer.stalled_since() <= Clock::now());

  // Queued while the loop writes: the loop takes it, and the close frame after it; flush() leaves it alone.
  const auto second = frames_of(30, 500);
  CHECK(!owner.queue.push(second).wake);
  CHECK(!owner.queue.close(1000, "", true));
  writer.flush();
  CHECK(owner.close_frames_written == 0);

  std::string received;
  std::thread late_reader([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    received = read_to_end(sockets.reader);
  });
  context.run();  // until the loop has written everything
  late_reader.join();

  CHECK(!writer.writing_async());
  CHECK(writer.stalled_since() == Clock::time_point{});
  CHECK(owner.close_frames_written == 1);
  CHECK(owner.write_failures == 0);
  CHECK(owner.write_exceptions == 0);
  CHECK(received == bytes_of(first) + bytes_of(second) + protocol::close_frame(1000, ""));
}

TEST_CASE("stream writer: a write to a reset connection fails once, and lets go of its batch") {
  asio::io_context context;
  auto sockets = connected_pair(context);
  FakeOwner owner(sockets.writer);
  StreamWriter writer(sockets.writer, owner.queue, owner);
  sockets.reader.set_option(asio::socket_base::linger(true, 0));  // close with a reset
  sockets.reader.close();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the reset arrives

  REQUIRE(owner.queue.push(frames_of(4, 100)).wake);
  writer.flush();
  CHECK(owner.write_failures == 1);
  CHECK(owner.close_frames_written == 0);
  CHECK(!writer.writing_async());
}
