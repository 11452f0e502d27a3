// server/limits/connection_limiter: the total and per-address bounds, and slots given back however they end.
#include <doctest/doctest.h>

#include <thread>
#include <vector>

#include "server/limits/connection_limiter.hpp"

using namespace chatd;

namespace {

ConnectionLimiter::Address address(unsigned char last) {
  ConnectionLimiter::Address bytes{};
  bytes[10] = bytes[11] = 0xff;  // v4-mapped 127.0.0.x
  bytes[12] = 127;
  bytes[15] = last;
  return bytes;
}

}  // namespace

TEST_CASE("the total bound: refused past it, admitted again once a slot is released") {
  ConnectionLimiter limiter(3, 0);
  std::vector<ConnectionLimiter::Slot> slots;
  for (int i = 0; i < 3; ++i) {
    slots.push_back(limiter.try_admit(address(1)));
    CHECK(static_cast<bool>(slots.back()));
  }
  CHECK_FALSE(limiter.try_admit(address(2)));
  CHECK(limiter.open() == 3);
  slots.pop_back();
  CHECK(limiter.open() == 2);
  auto again = limiter.try_admit(address(2));
  CHECK(static_cast<bool>(again));
  CHECK(limiter.open_from(address(1)) == 0);  // no per-address bound: addresses are not tracked
}

TEST_CASE("the per-address bound holds one address, not the others, and forgets an address gone") {
  ConnectionLimiter limiter(100, 2);
  auto a1 = limiter.try_admit(address(1));
  auto a2 = limiter.try_admit(address(1));
  CHECK(static_cast<bool>(a1));
  CHECK(static_cast<bool>(a2));
  CHECK_FALSE(limiter.try_admit(address(1)));
  CHECK(static_cast<bool>(limiter.try_admit(address(2))));  // admitted, and released at once
  CHECK(limiter.open() == 2);
  CHECK(limiter.open_from(address(1)) == 2);
  {
    auto moved = std::move(a1);  // the moved-from slot releases nothing
    CHECK(limiter.open_from(address(1)) == 2);
  }
  CHECK(limiter.open_from(address(1)) == 1);
  a2 = ConnectionLimiter::Slot{};  // assigning over a slot releases it
  CHECK(limiter.open_from(address(1)) == 0);
  CHECK(limiter.open() == 0);
}

TEST_CASE("admitted on one thread, released on others: the count ends at zero") {
  ConnectionLimiter limiter(1000, 10);
  std::vector<ConnectionLimiter::Slot> slots;
  for (int i = 0; i < 40; ++i) slots.push_back(limiter.try_admit(address(static_cast<unsigned char>(i % 4))));
  CHECK(limiter.open() == 40);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    std::vector<ConnectionLimiter::Slot> mine;
    for (int i = t; i < 40; i += 4) mine.push_back(std::move(slots[i]));
    threads.emplace_back([taken = std::move(mine)]() mutable { taken.clear(); });
  }
  for (auto& thread : threads) thread.join();
  CHECK(limiter.open() == 0);
  for (unsigned char a = 0; a < 4; ++a) CHECK(limiter.open_from(address(a)) == 0);
}
