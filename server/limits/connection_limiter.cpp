#include "server/limits/connection_limiter.hpp"

#include <string_view>

namespace chatd {

std::size_t ConnectionLimiter::AddressHash::operator()(const Address& address) const noexcept {
  const std::string_view bytes(reinterpret_cast<const char*>(address.data()), address.size());
  return std::hash<std::string_view>{}(bytes);
}

ConnectionLimiter::Slot ConnectionLimiter::try_admit(const Address& address) {
  const std::lock_guard lock(mutex_);
  if (open_ >= total_) return {};
  if (per_address_ > 0) {
    auto [entry, inserted] = by_address_.try_emplace(address, 0);
    if (entry->second >= per_address_) return {};
    ++entry->second;
  }
  ++open_;
  return Slot(this, address);
}

void ConnectionLimiter::release(const Address& address) {
  const std::lock_guard lock(mutex_);
  --open_;
  if (per_address_ == 0) return;
  // Forget an address once its last connection ends, so the map holds only addresses connected now.
  if (const auto entry = by_address_.find(address); entry != by_address_.end() && --entry->second == 0)
    by_address_.erase(entry);
}

std::size_t ConnectionLimiter::open() {
  const std::lock_guard lock(mutex_);
  return open_;
}

std::size_t ConnectionLimiter::open_from(const Address& address) {
  const std::lock_guard lock(mutex_);
  const auto entry = by_address_.find(address);
  return entry == by_address_.end() ? 0 : entry->second;
}

}  // namespace chatd
