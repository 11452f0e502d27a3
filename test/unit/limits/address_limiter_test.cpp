// The per-address publish limiter (server/limits/address_limiter.hpp): one bucket per address, and the
// sweep that forgets full ones. Time is a fake steady_clock time_point advanced by hand.
#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "server/limits/address_limiter.hpp"
#include "test/unit/limits/fake_clock.hpp"

using namespace std::chrono_literals;
using namespace chatd::test;
using chatd::AddressLimiter;

TEST_CASE("AddressLimiter: each address has its own bucket") {
  AddressLimiter limiter(1.0, 2.0);
  CHECK(limiter.tracked() == 0);
  CHECK(ns(limiter.try_take("10.0.0.1", t0)) == 0);
  CHECK(ns(limiter.try_take("10.0.0.1", t0)) == 0);
  CHECK(ns(limiter.try_take("10.0.0.1", t0)) == ns(1s));
  // Another address is untouched by the first one's burst.
  CHECK(ns(limiter.try_take("10.0.0.2", t0)) == 0);
  CHECK(ns(limiter.try_take("10.0.0.2", t0)) == 0);
  CHECK(ns(limiter.try_take("10.0.0.2", t0)) == ns(1s));
  CHECK(ns(limiter.try_take("::1", t0)) == 0);
  CHECK(limiter.tracked() == 3);
  // Refill is per address too.
  CHECK(ns(limiter.try_take("10.0.0.1", t0 + 500ms)) == ns(500ms));
  CHECK(ns(limiter.try_take("10.0.0.1", t0 + 1s)) == 0);
}

TEST_CASE("AddressLimiter: full buckets are forgotten by a sweep, busy ones kept") {
  AddressLimiter limiter(1.0, 2.0);
  // 1023 addresses publish once at t0.
  for (int i = 0; i < 1023; ++i) {
    REQUIRE(ns(limiter.try_take("quiet-" + std::to_string(i), t0)) == 0);
  }
  CHECK(limiter.tracked() == 1023);
  // Ten seconds later (all of them full again), "busy" publishes: 1024 buckets.
  const auto t1 = t0 + 10s;
  CHECK(ns(limiter.try_take("busy", t1)) == 0);
  CHECK(limiter.tracked() == 1024);
  // The next call sweeps: the 1023 refilled buckets go, "busy" (one token left of two) stays.
  CHECK(ns(limiter.try_take("newcomer", t1)) == 0);
  CHECK(limiter.tracked() == 2);
  // "busy" was not forgotten: one token, then empty (a fresh bucket would give two).
  CHECK(ns(limiter.try_take("busy", t1)) == 0);
  CHECK(ns(limiter.try_take("busy", t1)) == ns(1s));
  // A forgotten address starts again with a full burst.
  CHECK(ns(limiter.try_take("quiet-0", t1)) == 0);
  CHECK(ns(limiter.try_take("quiet-0", t1)) == 0);
  CHECK(ns(limiter.try_take("quiet-0", t1)) == ns(1s));
  CHECK(limiter.tracked() == 3);
}

TEST_CASE("AddressLimiter: a sweep keeps buckets that are still refilling") {
  AddressLimiter limiter(1.0, 2.0);
  for (int i = 0; i < 1024; ++i) {
    REQUIRE(ns(limiter.try_take("a-" + std::to_string(i), t0)) == 0);
  }
  CHECK(limiter.tracked() == 1024);
  // Half a second later nobody is full again: the sweep keeps everything.
  CHECK(ns(limiter.try_take("late", t0 + 500ms)) == 0);
  CHECK(limiter.tracked() == 1025);
}

TEST_CASE("AddressLimiter: a token given back is there again, never beyond the burst") {
  AddressLimiter limiter(0.1, 2.0);
  CHECK(ns(limiter.try_take("10.0.0.1", t0)) == 0);
  CHECK(ns(limiter.try_take("10.0.0.1", t0)) == 0);
  CHECK(ns(limiter.try_take("10.0.0.1", t0)) == ns(10s));
  limiter.give_back("10.0.0.1");
  CHECK(ns(limiter.try_take("10.0.0.1", t0)) == 0);
  limiter.give_back("10.0.0.1");
  limiter.give_back("10.0.0.1");
  limiter.give_back("10.0.0.1");  // past the burst: still only 2
  CHECK(ns(limiter.try_take("10.0.0.1", t0)) == 0);
  CHECK(ns(limiter.try_take("10.0.0.1", t0)) == 0);
  CHECK(ns(limiter.try_take("10.0.0.1", t0)) == ns(10s));
  limiter.give_back("10.0.0.9");  // an address it has no bucket for: nothing happens
  CHECK(limiter.tracked() == 1);
}
