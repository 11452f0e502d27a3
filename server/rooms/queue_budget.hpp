// The server-wide bound on what all subscribers' queues hold together (limits.max_queued_bytes).
// Every OutboundQueue attached to the budget adds the bytes it takes in (queued or being written) and
// takes off the bytes it lets go of, one relaxed atomic add per push: the fan-out hot path pays nothing
// more. Only a push that takes the total past the bound enters the slow path, evict(): under the
// budget's mutex, the largest attached queues are closed first (1008 "too slow") until what they held
// covers the excess.
// Thread affinity: any thread. Queues are pushed from room threads and drained on connection threads;
// attach() runs on a room thread, detach() wherever a queue ends. evict() is called with no queue's lock
// held (it locks the queues it closes), so two pushers evicting at once cannot deadlock.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

namespace chatd {

class OutboundQueue;
class Subscriber;

class QueueBudget {
 public:
  explicit QueueBudget(std::size_t max_bytes) : max_bytes_(max_bytes) {}
  QueueBudget(const QueueBudget&) = delete;
  QueueBudget& operator=(const QueueBudget&) = delete;

  std::size_t max_bytes() const { return max_bytes_; }
  // All attached queues' bytes, queued or being written.
  std::size_t total() const { return total_.load(std::memory_order_relaxed); }

  // Counts `bytes` more; true when the total is now past the bound (the caller then calls evict()).
  bool add(std::size_t bytes) {
    return total_.fetch_add(bytes, std::memory_order_relaxed) + bytes > max_bytes_;
  }
  void release(std::size_t bytes) { total_.fetch_sub(bytes, std::memory_order_relaxed); }

  // `queue` is `owner`'s: closing the owner (Subscriber::close) empties the queue. Called by the queue.
  void attach(OutboundQueue& queue, std::weak_ptr<Subscriber> owner);
  void detach(OutboundQueue& queue);

  // While the total is past the bound: closes the attached queue that holds the most (not closed
  // yet), until the bytes held by those closed cover the excess. Returns how many it closed.
  std::size_t evict();

 private:
  struct Entry {
    OutboundQueue* queue;
    std::weak_ptr<Subscriber> owner;
  };

  const std::size_t max_bytes_;
  std::atomic<std::size_t> total_{0};
  std::mutex mutex_;            // guards entries_ and each queue's budget slot
  std::mutex evict_mutex_;      // one evictor at a time; taken before mutex_, never after
  std::vector<Entry> entries_;  // swap-removed: a queue knows its index (OutboundQueue::budget_slot_)
};

}  // namespace chatd
