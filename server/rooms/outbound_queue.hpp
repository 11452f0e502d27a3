// The frames waiting to be written to one subscriber's connection (a WebSocket session or an event
// stream): the queue holds bytes ready for the wire and does not know which transport's they are.
// The room pushes from its own thread; the connection drains everything queued in one gather write.
// The queue is bounded in messages and in bytes, and what it bounds is what it holds: the frames queued
// AND the batch the writer took and has not finished writing (a stalled writer holds its batch). The
// writer tells that a batch is on the wire by coming back for the next one (take()); only then are its
// bytes let go of. A push beyond either bound is refused, so a slow client never makes the server hold
// more than `max_bytes` for it, except that a queue holding nothing takes any push: one batch larger
// than the bound still reaches a reader that keeps up (docs/config.md, subscriber.queue_bytes).
// It wakes nobody itself: a push that finds the writer idle says so (`wake`), and the pusher schedules
// the connection's flush.
// With a QueueBudget attached (attach_budget), every byte held is counted there too.
// Thread affinity: push*, close, abort and the readers take the queue's lock and may run on any thread;
// take() is the writer's (the connection's thread).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/frame_builder.hpp"

namespace chatd {

using protocol::SharedFrame;

class QueueBudget;
class Subscriber;

class OutboundQueue {
 public:
  static constexpr std::size_t unbounded = std::numeric_limits<std::size_t>::max();

  // `max_messages` and `max_bytes`: subscriber.queue and subscriber.queue_bytes.
  explicit OutboundQueue(std::size_t max_messages, std::size_t max_bytes = unbounded)
      : max_messages_(max_messages), max_bytes_(max_bytes) {}
  ~OutboundQueue();
  OutboundQueue(const OutboundQueue&) = delete;
  OutboundQueue& operator=(const OutboundQueue&) = delete;

  struct Push {
    enum class Status { queued, full, closed };
    Status status = Status::queued;
    bool wake = false;     // the writer was idle: schedule a flush
    bool backlog = false;  // the queue now holds at least half of either bound
  };

  // The bytes of a batch as a queue counts them: what goes on the wire. The room sums a batch once per
  // fan-out and passes the sum to every subscriber's push.
  static std::size_t bytes_of(const std::vector<SharedFrame>& frames);

  // Any thread. Message frames, all or none, `bytes` being bytes_of(frames): `full` when they would take
  // what the queue holds past either bound (and it holds something).
  Push push(const std::vector<SharedFrame>& frames, std::size_t bytes);
  Push push(const std::vector<SharedFrame>& frames) { return push(frames, bytes_of(frames)); }
  // Room thread, before anything live: the events a resubscribing client missed. Counted like any push
  // but never refused: the room already cut the replay to half of max_bytes (Room::replay). True: wake
  // the writer.
  bool push_replay(const std::vector<SharedFrame>& frames, std::size_t bytes);
  // Any thread. A control frame (our ping): its bytes count, but it is never refused (one per
  // subscriber.ping_interval). True: wake the writer.
  bool push_control(SharedFrame frame);
  // Any thread. A pong: while an earlier pong is still queued (not taken by the writer) it is replaced,
  // since RFC 6455 5.5.3 lets an endpoint answer only the most recent ping. So a peer that floods
  // pings and never reads is owed at most one queued pong and one being written. True: wake the writer.
  bool push_pong(SharedFrame frame);
  // Any thread. Queues the close frame, the last frame this queue will write. With `drain`, what is
  // queued goes first; without, it is dropped (and its bytes let go of). Later pushes are refused. Only
  // the first close counts. True: wake the writer.
  bool close(std::uint16_t code, std::string_view reason, bool drain);
  // Any thread: drop everything, the batch being written included; the connection is gone. Detaches
  // from the budget.
  void abort();

  // Room thread, before the first push: counts what this queue holds in `budget` from now on. `owner`
  // is the subscriber the budget closes to evict this queue.
  // Held by shared_ptr: a queue may outlive the room and the registry that made the budget.
  void attach_budget(std::shared_ptr<QueueBudget> budget, std::weak_ptr<Subscriber> owner);

  // The code and reason of the close frame queued, if any (code 0 when none).
  std::uint16_t close_code();
  std::string close_reason();
  bool closed();
  bool aborted();
  std::size_t max_bytes() const { return max_bytes_; }
  // Bytes and messages held: queued plus the batch being written.
  std::size_t held_bytes();
  std::size_t held_messages();

  // Writer side (the connection's thread). The batch taken last time is written: its bytes are let go
  // of. Then swaps everything queued into `batch` (which must be empty); `ends_with_close` tells whether
  // the close is due last: the writer appends the close in its transport's shape (close_code() and
  // close_reason() say which), after `batch`. False when there is nothing to write: the writer is then
  // idle, and the next push will ask for a wake-up.
  bool take(std::vector<SharedFrame>& batch, bool& ends_with_close);

 private:
  friend class QueueBudget;
  static constexpr std::size_t no_slot = std::numeric_limits<std::size_t>::max();

  bool wake_locked();
  void enqueue_locked(const std::vector<SharedFrame>& frames, std::size_t messages, std::size_t bytes);
  void drop_queued_locked();  // what is queued, not the batch being written
  void mirror_locked() { held_bytes_mirror_.store(held_bytes_locked(), std::memory_order_relaxed); }
  std::size_t held_bytes_locked() const { return queued_bytes_ + in_flight_bytes_; }
  // Under the lock, so the budget never sees a queue's refund before its charge. True: the budget is
  // past its bound, and the caller evicts once the lock is released.
  bool charge_locked(std::size_t bytes);
  void refund_locked(std::size_t bytes);
  void evict();  // without the lock
  // For QueueBudget::evict, which reads without this queue's lock.
  std::size_t held_bytes_relaxed() const { return held_bytes_mirror_.load(std::memory_order_relaxed); }
  bool closed_relaxed() const { return closed_mirror_.load(std::memory_order_relaxed); }

  std::mutex mutex_;
  std::vector<SharedFrame> frames_;
  std::size_t queued_messages_ = 0;  // message frames in frames_ (control frames are not counted)
  std::size_t queued_bytes_ = 0;     // every frame in frames_
  std::size_t in_flight_messages_ = 0;
  std::size_t in_flight_bytes_ = 0;
  std::size_t pong_index_ = no_slot;  // a pong in frames_ that a newer one replaces
  const std::size_t max_messages_;
  const std::size_t max_bytes_;
  std::uint16_t close_code_ = 0;
  bool closed_ = false;
  bool close_taken_ = false;
  bool aborted_ = false;
  bool writer_idle_ = true;
  std::string close_reason_;
  std::atomic<std::size_t> held_bytes_mirror_{0};
  std::atomic<bool> closed_mirror_{false};
  std::shared_ptr<QueueBudget> budget_;  // set once, by attach_budget, before any push
  std::size_t budget_slot_ = no_slot;    // the budget's, under its mutex
};

}  // namespace chatd
