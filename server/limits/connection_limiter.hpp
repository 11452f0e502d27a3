// Counts open client connections, in total and per remote address, so that one past the bound can be
// refused before anything is read from it (issue 10: connections are bounded and cheap to refuse).
//
// Thread affinity: try_admit() runs on the listener's thread; a Slot is released (destroyed) on whichever
// worker ends the connection. Both take one mutex, held for a few instructions.
#pragma once

#include <array>
#include <cstddef>
#include <mutex>
#include <unordered_map>

namespace chatd {

class ConnectionLimiter {
 public:
  // An address as 16 bytes (IPv4 as v4-mapped IPv6), so counting needs no string and no allocation
  // beyond the map node of an address's first connection.
  using Address = std::array<unsigned char, 16>;

  // `per_address` 0 = no per-address bound (the map is then never touched).
  ConnectionLimiter(std::size_t total, std::size_t per_address) : total_(total), per_address_(per_address) {}
  ConnectionLimiter(const ConnectionLimiter&) = delete;
  ConnectionLimiter& operator=(const ConnectionLimiter&) = delete;

  // Holds one connection's place; gives it back when destroyed, however the connection ends.
  class Slot {
   public:
    Slot() = default;
    Slot(Slot&& other) noexcept : owner_(other.owner_), address_(other.address_) { other.owner_ = nullptr; }
    Slot& operator=(Slot&& other) noexcept {
      if (this != &other) {
        release();
        owner_ = other.owner_;
        address_ = other.address_;
        other.owner_ = nullptr;
      }
      return *this;
    }
    ~Slot() { release(); }
    explicit operator bool() const { return owner_ != nullptr; }

   private:
    friend class ConnectionLimiter;
    Slot(ConnectionLimiter* owner, const Address& address) : owner_(owner), address_(address) {}
    void release() {
      if (owner_) owner_->release(address_);
      owner_ = nullptr;
    }
    ConnectionLimiter* owner_ = nullptr;
    Address address_{};
  };

  // Listener thread. An engaged Slot when the connection fits under both bounds; an empty one otherwise.
  Slot try_admit(const Address& address);

  // Any thread: connections open now, in total and from `address`.
  std::size_t open();
  std::size_t open_from(const Address& address);
  std::size_t total_bound() const { return total_; }

 private:
  struct AddressHash {
    std::size_t operator()(const Address& address) const noexcept;
  };
  void release(const Address& address);

  const std::size_t total_;
  const std::size_t per_address_;
  std::mutex mutex_;
  std::size_t open_ = 0;
  std::unordered_map<Address, std::size_t, AddressHash> by_address_;  // only addresses with a connection open
};

}  // namespace chatd
