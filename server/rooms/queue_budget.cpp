#include "server/rooms/queue_budget.hpp"

#include <limits>

#include "server/core/disconnect.hpp"
#include "server/metrics/metrics.hpp"
#include "server/rooms/outbound_queue.hpp"
#include "server/rooms/subscriber.hpp"

namespace chatd {

void QueueBudget::attach(OutboundQueue& queue, std::weak_ptr<Subscriber> owner) {
  std::lock_guard lock(mutex_);
  if (queue.budget_slot_ != OutboundQueue::no_slot) return;
  queue.budget_slot_ = entries_.size();
  entries_.push_back(Entry{&queue, std::move(owner)});
}

void QueueBudget::detach(OutboundQueue& queue) {
  std::lock_guard lock(mutex_);
  const std::size_t slot = queue.budget_slot_;
  if (slot >= entries_.size() || entries_[slot].queue != &queue) return;
  if (slot != entries_.size() - 1) {
    entries_[slot] = std::move(entries_.back());
    entries_[slot].queue->budget_slot_ = slot;
  }
  entries_.pop_back();
  queue.budget_slot_ = OutboundQueue::no_slot;
}

std::size_t QueueBudget::evict() {
  // One evictor at a time: two pushers past the bound at once must not both close queues for the same
  // excess. Pushers that find an eviction under way go on; the bound is restored by the one running.
  std::unique_lock evicting(evict_mutex_, std::try_to_lock);
  if (!evicting.owns_lock()) return 0;
  std::vector<std::shared_ptr<Subscriber>> victims;
  {
    std::lock_guard lock(mutex_);
    const std::size_t now = total();
    if (now <= max_bytes_) return 0;
    std::size_t excess = now - max_bytes_;
    std::vector<bool> chosen(entries_.size(), false);
    while (excess > 0) {
      std::size_t largest = entries_.size();
      std::size_t largest_bytes = 0;
      for (std::size_t i = 0; i < entries_.size(); ++i) {
        if (chosen[i] || entries_[i].queue->closed_relaxed()) continue;
        const std::size_t held = entries_[i].queue->held_bytes_relaxed();
        if (held > largest_bytes) {
          largest = i;
          largest_bytes = held;
        }
      }
      if (largest == entries_.size()) break;  // nothing more to close
      chosen[largest] = true;
      if (auto owner = entries_[largest].owner.lock()) victims.push_back(std::move(owner));
      excess -= std::min(excess, largest_bytes);
    }
  }
  // Outside mutex_: closing locks each victim's queue, and the last reference to a victim, dropped here,
  // destroys its queue, which detaches (and so takes mutex_).
  for (auto& victim : victims) victim->close(disconnect::too_slow, false);
  metrics::add(metrics::Series::slow_client_closes, victims.size());
  return victims.size();
}

}  // namespace chatd
