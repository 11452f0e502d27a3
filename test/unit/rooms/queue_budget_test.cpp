// The server-wide queue budget (server/rooms/queue_budget.hpp): every attached queue's bytes are
// counted, and a push past the bound closes the largest queues first, with 1008 "too slow".
#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "server/rooms/queue_budget.hpp"
#include "server/rooms/subscriber.hpp"

namespace {

using chatd::OutboundQueue;
using chatd::QueueBudget;
using chatd::SharedFrame;
using Status = OutboundQueue::Push::Status;

class Probe : public chatd::Subscriber {
 public:
  explicit Probe(std::string name)
      : Subscriber(1000, chatd::EventFormat::json, std::move(name), false, 1 << 20) {}
  void wake_writer() override { ++wakes; }
  int wakes = 0;
};

std::vector<SharedFrame> frames(std::size_t count, std::size_t size) {
  return std::vector<SharedFrame>(count, std::make_shared<const std::string>(size, 'x'));
}

std::shared_ptr<Probe> attached(const std::shared_ptr<QueueBudget>& budget, std::string name) {
  auto probe = std::make_shared<Probe>(std::move(name));
  probe->queue().attach_budget(budget, probe);
  return probe;
}

}  // namespace

TEST_CASE("QueueBudget: counts what every queue holds, and lets go of it as batches are written") {
  auto budget = std::make_shared<QueueBudget>(10000);
  auto a = attached(budget, "a");
  auto b = attached(budget, "b");
  CHECK(a->queue().push(frames(2, 100)).status == Status::queued);
  CHECK(b->queue().push(frames(1, 300)).status == Status::queued);
  CHECK(budget->total() == 500);
  std::vector<SharedFrame> batch;
  bool ends_with_close = false;
  REQUIRE(a->queue().take(batch, ends_with_close));
  CHECK(budget->total() == 500);  // being written: still held
  batch.clear();
  CHECK(!a->queue().take(batch, ends_with_close));
  CHECK(budget->total() == 300);
  b.reset();  // a queue that ends gives back what it held
  CHECK(budget->total() == 0);
}

TEST_CASE("QueueBudget: past the bound, the largest queues are closed first until it fits") {
  auto budget = std::make_shared<QueueBudget>(1000);
  auto small = attached(budget, "small");
  auto large = attached(budget, "large");
  auto middle = attached(budget, "middle");
  CHECK(small->queue().push(frames(1, 100)).status == Status::queued);
  CHECK(large->queue().push(frames(1, 500)).status == Status::queued);
  CHECK(middle->queue().push(frames(1, 300)).status == Status::queued);
  CHECK(budget->total() == 900);
  // 250 more: 1150 > 1000. Closing the largest (500) covers the excess of 150.
  const auto pushed = small->queue().push(frames(1, 250));
  CHECK(pushed.status == Status::queued);
  CHECK(large->queue().closed());
  CHECK(large->queue().close_code() == 1008);
  CHECK(large->queue().close_reason() == "too slow");
  // (its writer was woken by its push, and has not taken the queue since: no second wake-up needed)
  CHECK(!middle->queue().closed());
  CHECK(!small->queue().closed());
  CHECK(budget->total() == 650);
  // 700 more on `middle`: 1350, excess 350: `middle` itself is now the largest (1000): it is closed,
  // and its push is reported full, so the room closes it at once.
  CHECK(middle->queue().push(frames(1, 700)).status == Status::full);
  CHECK(middle->queue().closed());
  CHECK(!small->queue().closed());
  CHECK(budget->total() == 350);
}

TEST_CASE("QueueBudget: several queues closed when one does not cover the excess") {
  auto budget = std::make_shared<QueueBudget>(1000);
  std::vector<std::shared_ptr<Probe>> probes;
  for (int i = 0; i < 10; ++i) {
    probes.push_back(attached(budget, "p" + std::to_string(i)));
    CHECK(probes.back()->queue().push(frames(1, 90 + static_cast<std::size_t>(i))).status == Status::queued);
  }
  // 90+...+99 = 945; 300 more on a new queue: excess 245, the three largest (99, 98, 97) cover it.
  auto pusher = attached(budget, "pusher");
  CHECK(pusher->queue().push(frames(1, 300)).status == Status::full);  // it is the largest of all
  CHECK(pusher->queue().closed());
  int closed = 0;
  for (auto& probe : probes) closed += probe->queue().closed() ? 1 : 0;
  CHECK(closed == 0);  // closing the pusher (300) covered the 245
  CHECK(budget->total() <= 1000);
}

TEST_CASE("QueueBudget: pushes from several threads keep the count exact") {
  auto budget = std::make_shared<QueueBudget>(std::size_t{1} << 40);
  std::vector<std::shared_ptr<Probe>> probes;
  for (int i = 0; i < 4; ++i) probes.push_back(attached(budget, "t" + std::to_string(i)));
  std::vector<std::thread> threads;
  for (auto& probe : probes) {
    threads.emplace_back([&probe] {
      std::vector<SharedFrame> batch;
      bool ends_with_close = false;
      for (int i = 0; i < 2000; ++i) {
        probe->queue().push(frames(2, 7));
        if (i % 3 == 0) {
          probe->queue().take(batch, ends_with_close);
          batch.clear();
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  std::size_t held = 0;
  for (auto& probe : probes) held += probe->queue().held_bytes();
  CHECK(budget->total() == held);
  probes.clear();
  CHECK(budget->total() == 0);
}
