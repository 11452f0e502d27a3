// The publish limiter for HTTP: one token bucket per remote address, shared by every connection
// from that address. Buckets that have refilled are forgotten, so memory stays bounded by the
// addresses that published recently.
#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

#include "server/limits/token_bucket.hpp"

namespace chatd {

class AddressLimiter {
 public:
  AddressLimiter(double rate, double burst) : rate_(rate), burst_(burst) {}

  // Zero when a token was taken; otherwise how long until the address may publish again.
  TokenBucket::Clock::duration try_take(const std::string& address, TokenBucket::Clock::time_point now);

  // Gives back a token try_take took, for limits that count failures (logins): each attempt takes one when it
  // starts, so attempts in flight at once count too, and one that succeeds gives it back.
  void give_back(const std::string& address);

  std::size_t tracked();

 private:
  void forget_full_buckets(TokenBucket::Clock::time_point now);

  double rate_;
  double burst_;
  std::mutex mutex_;
  std::unordered_map<std::string, TokenBucket> buckets_;
  std::size_t sweep_at_ = 1024;  // sweep when the map grows past this
};

}  // namespace chatd
