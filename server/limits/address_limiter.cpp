#include "server/limits/address_limiter.hpp"

namespace chatd {

TokenBucket::Clock::duration AddressLimiter::try_take(const std::string& address,
                                                      TokenBucket::Clock::time_point now) {
  std::lock_guard lock(mutex_);
  if (buckets_.size() >= sweep_at_) forget_full_buckets(now);
  auto [bucket, inserted] = buckets_.try_emplace(address, rate_, burst_, now);
  return bucket->second.try_take(now);
}

void AddressLimiter::give_back(const std::string& address) {
  std::lock_guard lock(mutex_);
  if (const auto found = buckets_.find(address); found != buckets_.end()) found->second.give_back();
}

std::size_t AddressLimiter::tracked() {
  std::lock_guard lock(mutex_);
  return buckets_.size();
}

void AddressLimiter::forget_full_buckets(TokenBucket::Clock::time_point now) {
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    it = it->second.full(now) ? buckets_.erase(it) : std::next(it);
  }
  // Sweep again only after the map doubles past what is still live: amortised O(1) per call.
  sweep_at_ = std::max<std::size_t>(1024, buckets_.size() * 2);
}

}  // namespace chatd
