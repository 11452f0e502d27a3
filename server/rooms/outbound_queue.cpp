#include "server/rooms/outbound_queue.hpp"

#include "server/rooms/queue_budget.hpp"

namespace chatd {

OutboundQueue::~OutboundQueue() {
  if (!budget_) return;
  {
    std::lock_guard lock(mutex_);
    refund_locked(held_bytes_locked());
  }
  budget_->detach(*this);
}

std::size_t OutboundQueue::bytes_of(const std::vector<SharedFrame>& frames) {
  std::size_t bytes = 0;
  for (const auto& frame : frames) bytes += frame->size();
  return bytes;
}

void OutboundQueue::attach_budget(std::shared_ptr<QueueBudget> budget, std::weak_ptr<Subscriber> owner) {
  QueueBudget* attached = nullptr;
  {
    std::lock_guard lock(mutex_);
    if (budget_ || aborted_ || !budget) return;
    budget_ = std::move(budget);
    budget_->add(held_bytes_locked());
    attached = budget_.get();
  }
  attached->attach(*this, std::move(owner));
}

bool OutboundQueue::charge_locked(std::size_t bytes) {
  return budget_ != nullptr && budget_->add(bytes);
}

void OutboundQueue::refund_locked(std::size_t bytes) {
  if (budget_ && bytes > 0) budget_->release(bytes);
}

void OutboundQueue::evict() {
  budget_->evict();
}

bool OutboundQueue::wake_locked() {
  if (!writer_idle_) return false;
  writer_idle_ = false;
  return true;
}

void OutboundQueue::enqueue_locked(const std::vector<SharedFrame>& frames, std::size_t messages,
                                   std::size_t bytes) {
  frames_.insert(frames_.end(), frames.begin(), frames.end());
  queued_messages_ += messages;
  queued_bytes_ += bytes;
  mirror_locked();
}

OutboundQueue::Push OutboundQueue::push(const std::vector<SharedFrame>& frames, std::size_t bytes) {
  Push result;
  bool over_budget = false;
  {
    std::lock_guard lock(mutex_);
    const std::size_t held_messages = queued_messages_ + in_flight_messages_;
    const std::size_t held_bytes = held_bytes_locked();
    if (closed_ || aborted_) {
      result.status = Push::Status::closed;
      return result;
    }
    // A queue that holds nothing takes anything: the reader has kept up, whatever the batch's size.
    const bool holds_something = held_bytes > 0 || held_messages > 0;
    if (holds_something &&
        (held_messages + frames.size() > max_messages_ || held_bytes + bytes > max_bytes_)) {
      result.status = Push::Status::full;
      return result;
    }
    enqueue_locked(frames, frames.size(), bytes);
    over_budget = charge_locked(bytes);
    result.wake = wake_locked();
    // Half of either bound: the room flushes its thread's writers now rather than at the end of the round.
    result.backlog =
        2 * (held_messages + frames.size()) >= max_messages_ || 2 * (held_bytes + bytes) >= max_bytes_;
  }
  if (over_budget) {
    evict();
    if (closed()) result.status = Push::Status::full;  // this queue was the largest: the room closes it
  }
  return result;
}

bool OutboundQueue::push_replay(const std::vector<SharedFrame>& frames, std::size_t bytes) {
  bool wake = false;
  bool over_budget = false;
  {
    std::lock_guard lock(mutex_);
    if (closed_ || aborted_ || frames.empty()) return false;
    enqueue_locked(frames, frames.size(), bytes);
    over_budget = charge_locked(bytes);
    wake = wake_locked();
  }
  if (over_budget) evict();
  return wake;
}

bool OutboundQueue::push_control(SharedFrame frame) {
  bool wake = false;
  bool over_budget = false;
  {
    std::lock_guard lock(mutex_);
    if (closed_ || aborted_) return false;
    const std::size_t bytes = frame->size();
    frames_.push_back(std::move(frame));
    queued_bytes_ += bytes;
    mirror_locked();
    over_budget = charge_locked(bytes);
    wake = wake_locked();
  }
  if (over_budget) evict();
  return wake;
}

bool OutboundQueue::push_pong(SharedFrame frame) {
  std::lock_guard lock(mutex_);
  if (closed_ || aborted_) return false;
  const std::size_t bytes = frame->size();
  if (pong_index_ < frames_.size()) {
    // RFC 6455 5.5.3: the pong owed for an earlier ping, not sent yet, gives way to this one. A pong is
    // at most 127 bytes: the budget is adjusted, never pushed past its bound by this.
    auto& owed = frames_[pong_index_];
    const std::size_t old_bytes = owed->size();
    owed = std::move(frame);
    queued_bytes_ = queued_bytes_ - old_bytes + bytes;
    refund_locked(old_bytes);
    charge_locked(bytes);
    mirror_locked();
    return false;  // the writer was woken for the first one and has not taken it yet
  }
  pong_index_ = frames_.size();
  frames_.push_back(std::move(frame));
  queued_bytes_ += bytes;
  charge_locked(bytes);
  mirror_locked();
  return wake_locked();
}

void OutboundQueue::drop_queued_locked() {
  refund_locked(queued_bytes_);
  frames_.clear();
  frames_.shrink_to_fit();
  queued_messages_ = 0;
  queued_bytes_ = 0;
  pong_index_ = no_slot;
  mirror_locked();
}

bool OutboundQueue::close(std::uint16_t code, std::string_view reason, bool drain) {
  std::lock_guard lock(mutex_);
  if (closed_ || aborted_) return false;
  closed_ = true;
  closed_mirror_.store(true, std::memory_order_relaxed);
  close_code_ = code;
  close_reason_ = reason;
  if (!drain) drop_queued_locked();
  return wake_locked();
}

void OutboundQueue::abort() {
  std::shared_ptr<QueueBudget> budget;
  {
    std::lock_guard lock(mutex_);
    aborted_ = true;
    closed_mirror_.store(true, std::memory_order_relaxed);
    drop_queued_locked();
    refund_locked(in_flight_bytes_);
    in_flight_bytes_ = 0;
    in_flight_messages_ = 0;
    mirror_locked();
    budget = budget_;
  }
  if (budget) budget->detach(*this);
}

std::uint16_t OutboundQueue::close_code() {
  std::lock_guard lock(mutex_);
  return close_code_;
}

std::string OutboundQueue::close_reason() {
  std::lock_guard lock(mutex_);
  return close_reason_;
}

bool OutboundQueue::closed() {
  std::lock_guard lock(mutex_);
  return closed_;
}

bool OutboundQueue::aborted() {
  std::lock_guard lock(mutex_);
  return aborted_;
}

std::size_t OutboundQueue::held_bytes() {
  std::lock_guard lock(mutex_);
  return held_bytes_locked();
}

std::size_t OutboundQueue::held_messages() {
  std::lock_guard lock(mutex_);
  return queued_messages_ + in_flight_messages_;
}

bool OutboundQueue::take(std::vector<SharedFrame>& batch, bool& ends_with_close) {
  std::lock_guard lock(mutex_);
  ends_with_close = false;
  if (aborted_) return false;
  // The writer comes back only once the last batch is on the wire: its bytes are no longer held.
  refund_locked(in_flight_bytes_);
  in_flight_bytes_ = queued_bytes_;
  in_flight_messages_ = queued_messages_;
  queued_bytes_ = 0;
  queued_messages_ = 0;
  pong_index_ = no_slot;
  batch.swap(frames_);
  // The close is built by the writer, once: most connections never need one. It is not counted: at most
  // a few hundred bytes, and nothing is queued after it.
  if (closed_ && !close_taken_) {
    close_taken_ = true;
    ends_with_close = true;
  }
  mirror_locked();
  if (batch.empty() && !ends_with_close) {
    writer_idle_ = true;
    return false;
  }
  return true;
}

}  // namespace chatd
