// A connection's outbound queue (server/rooms/outbound_queue.hpp): the limit, wake-ups, and the room a
// replay makes for live messages.
#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "server/rooms/outbound_queue.hpp"

namespace {

std::vector<chatd::SharedFrame> frames(std::size_t count) {
  return std::vector<chatd::SharedFrame>(count, std::make_shared<const std::string>("x"));
}

}  // namespace

TEST_CASE("OutboundQueue: a full queue refuses the whole batch, and taking empties it") {
  chatd::OutboundQueue queue(3);
  using Status = chatd::OutboundQueue::Push::Status;
  const auto first = queue.push(frames(2));
  CHECK(first.status == Status::queued);
  CHECK(first.wake);  // the writer was idle
  CHECK(queue.push(frames(2)).status == Status::full);
  const auto third = queue.push(frames(1));
  CHECK(third.status == Status::queued);
  CHECK(!third.wake);  // already woken
  std::vector<chatd::SharedFrame> batch;
  bool ends_with_close = false;
  REQUIRE(queue.take(batch, ends_with_close));
  CHECK(batch.size() == 3);
  CHECK(queue.push(frames(3)).status == Status::queued);
}

TEST_CASE("OutboundQueue: live messages may queue beyond the limit while a replay is written, not after") {
  chatd::OutboundQueue queue(2);
  using Status = chatd::OutboundQueue::Push::Status;
  CHECK(queue.push_replay(frames(5)));
  CHECK(queue.push(frames(3)).status == Status::queued);  // 3 > 2, but the replay is not written yet
  std::vector<chatd::SharedFrame> batch;
  bool ends_with_close = false;
  REQUIRE(queue.take(batch, ends_with_close));  // the replay and the 3 go out together
  CHECK(batch.size() == 8);
  batch.clear();
  CHECK(queue.push(frames(6)).status == Status::queued);  // still within 2 + 5 while that is written
  CHECK(queue.push(frames(2)).status == Status::full);
  REQUIRE(queue.take(batch, ends_with_close));  // the writer is back: the replay is on the wire
  CHECK(batch.size() == 6);
  batch.clear();
  CHECK(queue.push(frames(3)).status == Status::full);  // the plain limit again
  CHECK(queue.push(frames(2)).status == Status::queued);
}
