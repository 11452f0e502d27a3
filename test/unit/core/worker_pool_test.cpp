// The worker pool (server/core/worker_pool.hpp): a worker whose loop is blocked is named as stalled.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include <asio/post.hpp>

#include "server/core/worker_pool.hpp"

TEST_CASE("WorkerPool: a worker whose loop is blocked stops ticking, and stalled_since() names it") {
  using namespace std::chrono_literals;
  using Clock = std::chrono::steady_clock;
  chatd::WorkerPool workers(2, 10ms);
  workers.start();
  // Margins of a second over a 10 ms tick, and waits on what the blocked handler says it is doing: a
  // loaded machine or a sanitizer build must not fail this.
  CHECK(workers.stalled_since(Clock::now() - 1s).empty());
  std::atomic<bool> blocking{false}, released{false};
  asio::post(workers.at(1).context(), [&] {
    blocking = true;
    std::this_thread::sleep_for(2500ms);  // worker 1's tick cannot run meanwhile
    released = true;
  });
  while (!blocking) std::this_thread::sleep_for(1ms);
  std::this_thread::sleep_for(1500ms);
  CHECK(workers.stalled_since(Clock::now() - 1s) == std::vector<std::size_t>{1});
  while (!released) std::this_thread::sleep_for(1ms);
  std::this_thread::sleep_for(300ms);
  CHECK(workers.stalled_since(Clock::now() - 1s).empty());
  workers.stop();
  workers.join();
}
