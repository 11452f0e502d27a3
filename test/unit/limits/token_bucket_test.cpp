// The token bucket (server/limits/token_bucket.hpp): bursts, refill at exactly the rate, reservations.
// Time is a fake steady_clock time_point advanced by hand.
#include <doctest/doctest.h>

#include <chrono>

#include "server/limits/token_bucket.hpp"
#include "test/unit/limits/fake_clock.hpp"

using namespace std::chrono_literals;
using namespace chatd::test;
using chatd::TokenBucket;

TEST_CASE("TokenBucket: a full burst, then refusal with the exact wait") {
  TokenBucket bucket(2.0, 3.0, t0);  // 2 tokens/s, 3 banked
  CHECK(bucket.full(t0));
  CHECK(ns(bucket.try_take(t0)) == 0);
  CHECK_FALSE(bucket.full(t0));
  CHECK(ns(bucket.try_take(t0)) == 0);
  CHECK(ns(bucket.try_take(t0)) == 0);
  // Empty: one token takes 1/rate = 500 ms, and a refusal takes nothing.
  CHECK(ns(bucket.try_take(t0)) == ns(500ms));
  CHECK(ns(bucket.try_take(t0)) == ns(500ms));
  // Part of the way there, the wait shrinks accordingly.
  CHECK(ns(bucket.try_take(t0 + 250ms)) == ns(250ms));
  CHECK(ns(bucket.try_take(t0 + 375ms)) == ns(125ms));
  CHECK(ns(bucket.try_take(t0 + 500ms)) == 0);
  CHECK(ns(bucket.try_take(t0 + 500ms)) == ns(500ms));
}

TEST_CASE("TokenBucket: refill over time is capped at the burst") {
  TokenBucket bucket(4.0, 2.0, t0);
  CHECK(ns(bucket.try_take(t0)) == 0);
  CHECK(ns(bucket.try_take(t0)) == 0);
  CHECK(ns(bucket.try_take(t0)) == ns(250ms));
  // An hour later the bucket holds `burst` tokens, not 14400.
  const auto later = t0 + 1h;
  CHECK(bucket.full(later));
  CHECK(ns(bucket.try_take(later)) == 0);
  CHECK(ns(bucket.try_take(later)) == 0);
  CHECK(ns(bucket.try_take(later)) == ns(250ms));
}

TEST_CASE("TokenBucket: tokens come back at exactly `rate`") {
  TokenBucket bucket(1.0, 1.0, t0);
  CHECK(ns(bucket.try_take(t0)) == 0);
  for (int i = 1; i <= 5; ++i) {
    const auto now = t0 + std::chrono::seconds(i);
    CHECK_MESSAGE(ns(bucket.try_take(now - 500ms)) == ns(500ms), "second " << i);
    CHECK_MESSAGE(ns(bucket.try_take(now)) == 0, "second " << i);
  }
}

TEST_CASE("TokenBucket: time going backwards adds nothing") {
  TokenBucket bucket(1.0, 1.0, t0);
  CHECK(ns(bucket.try_take(t0)) == 0);
  CHECK(ns(bucket.try_take(t0 - 10s)) == ns(1s));
  CHECK(ns(bucket.try_take(t0 + 500ms)) == ns(500ms));
}

TEST_CASE("TokenBucket: reserve() queues callers at exactly the rate") {
  TokenBucket bucket(4.0, 2.0, t0);  // one token per 250 ms
  CHECK(ns(bucket.reserve(t0)) == 0);
  CHECK(ns(bucket.reserve(t0)) == 0);
  CHECK(ns(bucket.reserve(t0)) == ns(250ms));
  CHECK(ns(bucket.reserve(t0)) == ns(500ms));
  CHECK(ns(bucket.reserve(t0)) == ns(750ms));
  CHECK(ns(bucket.reserve(t0)) == ns(1000ms));
  // In debt: try_take refuses until the debt is paid and one token is back.
  CHECK(ns(bucket.try_take(t0)) == ns(1250ms));
  CHECK_FALSE(bucket.full(t0));
  // 500 ms later two tokens came back: the queue moved up by 500 ms.
  CHECK(ns(bucket.reserve(t0 + 500ms)) == ns(750ms));
  // Debt of 3 at t0 + 500ms: back to full (2) after 5 tokens = 1250 ms.
  CHECK_FALSE(bucket.full(t0 + 1500ms));
  CHECK(bucket.full(t0 + 1750ms));
  CHECK(ns(bucket.reserve(t0 + 1750ms)) == 0);
}

TEST_CASE("TokenBucket: full()") {
  TokenBucket bucket(4.0, 5.0, t0);
  CHECK(bucket.full(t0));
  CHECK(ns(bucket.try_take(t0)) == 0);
  CHECK_FALSE(bucket.full(t0));
  CHECK_FALSE(bucket.full(t0 + 125ms));
  CHECK(bucket.full(t0 + 250ms));
  CHECK(bucket.full(t0 + 10s));
}
