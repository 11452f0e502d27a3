// Token bucket: `rate` tokens per second, at most `burst` banked. Time is passed in, so tests
// drive it with a fake clock.
#pragma once

#include <algorithm>
#include <chrono>

namespace chatd {

class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;

  TokenBucket(double rate, double burst, Clock::time_point now)
      : rate_(rate), burst_(burst), tokens_(burst), last_(now) {}

  // Takes a token if one is there: returns zero. Otherwise takes nothing and returns how long until one is.
  Clock::duration try_take(Clock::time_point now) {
    refill(now);
    if (tokens_ >= 1) {
      tokens_ -= 1;
      return Clock::duration::zero();
    }
    return until_tokens(1);
  }

  // Gives back a token taken for an attempt that turned out not to count (a login that succeeded).
  void give_back() { tokens_ = std::min(burst_, tokens_ + 1); }

  // Takes a token now, going into debt if need be, and returns how long the caller must wait before
  // using it. Successive callers queue up behind each other at exactly `rate`.
  Clock::duration reserve(Clock::time_point now) {
    refill(now);
    tokens_ -= 1;
    return tokens_ >= 0 ? Clock::duration::zero() : until_tokens(0);
  }

  // A full bucket remembers nothing a new one would not: it can be forgotten.
  bool full(Clock::time_point now) {
    refill(now);
    return tokens_ >= burst_;
  }

 private:
  void refill(Clock::time_point now) {
    if (now <= last_) return;
    const double elapsed = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + elapsed * rate_);
    last_ = now;
  }

  Clock::duration until_tokens(double target) const {
    const double seconds = (target - tokens_) / rate_;
    return std::chrono::ceil<Clock::duration>(std::chrono::duration<double>(seconds));
  }

  double rate_;
  double burst_;
  double tokens_;
  Clock::time_point last_;
};

}  // namespace chatd
