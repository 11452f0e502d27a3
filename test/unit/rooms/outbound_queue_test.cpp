// A connection's outbound queue (server/rooms/outbound_queue.hpp): the message limit and wake-ups.
// Bytes, in-flight batches, replays and pongs: outbound_queue_bytes_test.cpp.
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
  batch.clear();
  // The batch taken is still held until the writer comes back: being written is not gone.
  CHECK(queue.push(frames(1)).status == Status::full);
  CHECK(!queue.take(batch, ends_with_close));  // written; nothing more: idle
  CHECK(queue.push(frames(3)).status == Status::queued);
}
