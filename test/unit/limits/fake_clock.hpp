// Time for the limiter tests: a fake steady_clock time_point advanced by hand, never the real clock.
#pragma once

#include <chrono>

#include "server/limits/token_bucket.hpp"

namespace chatd::test {

using Clock = TokenBucket::Clock;

// An arbitrary fixed start: the tests never look at the real clock.
inline const Clock::time_point t0 = Clock::time_point{} + std::chrono::hours(1000);

inline long long ns(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

}  // namespace chatd::test
