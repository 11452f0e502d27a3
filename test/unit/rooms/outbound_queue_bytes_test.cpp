// The byte bound of a connection's outbound queue (server/rooms/outbound_queue.hpp): what is queued and
// what is being written both count; an empty queue takes any batch; replays and control frames count;
// pongs are coalesced (RFC 6455 5.5.3).
#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "server/rooms/outbound_queue.hpp"

namespace {

using chatd::OutboundQueue;
using chatd::SharedFrame;
using Status = OutboundQueue::Push::Status;

std::vector<SharedFrame> frames(std::size_t count, std::size_t size) {
  return std::vector<SharedFrame>(count, std::make_shared<const std::string>(size, 'x'));
}

struct Taken {
  bool any;
  std::vector<SharedFrame> batch;
};

Taken take(OutboundQueue& queue) {
  Taken taken;
  bool ends_with_close = false;
  taken.any = queue.take(taken.batch, ends_with_close);
  return taken;
}

}  // namespace

TEST_CASE("OutboundQueue bytes: a push past the byte bound is refused, whole") {
  OutboundQueue queue(1000, 100);
  CHECK(queue.push(frames(4, 20)).status == Status::queued);  // 80
  CHECK(queue.held_bytes() == 80);
  CHECK(queue.push(frames(2, 11)).status == Status::full);  // 102 > 100: none of the two
  CHECK(queue.held_bytes() == 80);
  CHECK(queue.push(frames(1, 20)).status == Status::queued);  // exactly 100
  CHECK(queue.push(frames(1, 1)).status == Status::full);
}

TEST_CASE("OutboundQueue bytes: the batch being written is held until the writer comes back") {
  OutboundQueue queue(1000, 100);
  CHECK(queue.push(frames(1, 90)).status == Status::queued);
  auto first = take(queue);
  REQUIRE(first.any);
  CHECK(queue.held_bytes() == 90);  // on its way, not gone
  CHECK(queue.push(frames(1, 20)).status == Status::full);
  CHECK(queue.push(frames(1, 10)).status == Status::queued);
  auto second = take(queue);  // the first batch is on the wire: its 90 bytes are let go of
  REQUIRE(second.any);
  CHECK(second.batch.size() == 1);
  CHECK(queue.held_bytes() == 10);
  CHECK(queue.push(frames(1, 90)).status == Status::queued);
  CHECK(take(queue).any);
  CHECK(!take(queue).any);  // written, nothing queued: idle, nothing held
  CHECK(queue.held_bytes() == 0);
  CHECK(queue.held_messages() == 0);
}

TEST_CASE("OutboundQueue bytes: an empty queue takes a batch larger than the bound") {
  OutboundQueue queue(1000, 100);
  const auto pushed = queue.push(frames(3, 400));  // 1200 bytes: a reader that keeps up gets it
  CHECK(pushed.status == Status::queued);
  CHECK(pushed.wake);
  CHECK(pushed.backlog);
  CHECK(queue.push(frames(1, 1)).status == Status::full);  // but nothing after it until it is written
  REQUIRE(take(queue).any);
  CHECK(queue.push(frames(1, 1)).status == Status::full);  // being written still counts
  CHECK(!take(queue).any);
  CHECK(queue.push(frames(1, 1)).status == Status::queued);
}

TEST_CASE("OutboundQueue bytes: the message count still bounds floods of tiny frames") {
  OutboundQueue queue(4, 1 << 20);
  CHECK(queue.push(frames(4, 1)).status == Status::queued);
  CHECK(queue.push(frames(1, 1)).status == Status::full);
  REQUIRE(take(queue).any);
  CHECK(queue.push(frames(1, 1)).status == Status::full);  // 4 in flight
  CHECK(!take(queue).any);
  CHECK(queue.push(frames(4, 1)).status == Status::queued);
}

TEST_CASE("OutboundQueue bytes: backlog at half of either bound") {
  OutboundQueue by_bytes(1000, 100);
  CHECK(!by_bytes.push(frames(1, 49)).backlog);
  CHECK(by_bytes.push(frames(1, 1)).backlog);
  OutboundQueue by_count(10, 1 << 20);
  CHECK(!by_count.push(frames(4, 1)).backlog);
  CHECK(by_count.push(frames(1, 1)).backlog);
}

TEST_CASE("OutboundQueue bytes: a replay counts against the bound; live pushes fit in what is left") {
  OutboundQueue queue(1000, 100);
  const auto replay = frames(5, 10);
  CHECK(queue.push_replay(replay, OutboundQueue::bytes_of(replay)));  // 50: the room cut it to half
  CHECK(queue.held_bytes() == 50);
  CHECK(queue.push(frames(1, 50)).status == Status::queued);
  CHECK(queue.push(frames(1, 1)).status == Status::full);  // no grace beyond the bound
  REQUIRE(take(queue).any);
  CHECK(!take(queue).any);
  CHECK(queue.held_bytes() == 0);
}

TEST_CASE("OutboundQueue bytes: control frames count; pongs owed are coalesced") {
  OutboundQueue queue(1000, 100);
  CHECK(queue.push_control(std::make_shared<const std::string>(30, 'p')));
  CHECK(queue.held_bytes() == 30);
  CHECK(queue.push(frames(1, 80)).status == Status::full);  // the ping's bytes count
  CHECK(take(queue).any);
  CHECK(!take(queue).any);
  // A flood of pings, never read: each pong replaces the one still queued.
  CHECK(queue.push_pong(std::make_shared<const std::string>("pong-1")));
  for (int i = 2; i <= 1000; ++i)
    CHECK(!queue.push_pong(std::make_shared<const std::string>("pong-" + std::to_string(i))));
  CHECK(queue.held_bytes() == std::string("pong-1000").size());
  auto taken = take(queue);
  REQUIRE(taken.batch.size() == 1);
  CHECK(*taken.batch.front() == "pong-1000");  // the most recent ping is answered
  // Once taken, the next pong is queued anew (one queued and one being written at most).
  CHECK(!queue.push_pong(std::make_shared<const std::string>("pong-a")));  // the writer is busy
  CHECK(!queue.push_pong(std::make_shared<const std::string>("pong-b")));
  CHECK(queue.held_bytes() == std::string("pong-1000").size() + std::string("pong-b").size());
  taken = take(queue);
  REQUIRE(taken.batch.size() == 1);
  CHECK(*taken.batch.front() == "pong-b");
}

TEST_CASE("OutboundQueue bytes: closing without drain lets go of what is queued; abort of everything") {
  OutboundQueue queue(1000, 100);
  CHECK(queue.push(frames(1, 40)).status == Status::queued);
  REQUIRE(take(queue).any);
  CHECK(queue.push(frames(1, 40)).status == Status::queued);
  CHECK(queue.held_bytes() == 80);
  CHECK(!queue.close(1008, "too slow", false));  // the writer is busy with the first batch
  CHECK(queue.held_bytes() == 40);               // the batch being written stays until written
  CHECK(queue.push(frames(1, 1)).status == Status::closed);
  queue.abort();
  CHECK(queue.held_bytes() == 0);
}
