#include "server/rooms/retained_events.hpp"

#include <algorithm>
#include <iterator>
#include <utility>

namespace chatd {

RetainedEvents::RetainedEvents(const config::History& settings, std::vector<SharedEvent> loaded,
                               std::uint64_t last_id)
    : settings_(settings),
      events_(std::make_move_iterator(loaded.begin()), std::make_move_iterator(loaded.end())),
      encoded_(events_.size()),
      last_id_(last_id) {}

void RetainedEvents::reset(std::vector<SharedEvent> loaded, std::uint64_t last_id) {
  events_.assign(std::make_move_iterator(loaded.begin()), std::make_move_iterator(loaded.end()));
  encoded_.assign(events_.size(), Encoded{});
  last_id_ = last_id;
}

void RetainedEvents::push(SharedEvent event, std::int64_t now) {
  const std::uint64_t id = event->id;
  events_.push_back(std::move(event));
  encoded_.emplace_back();
  last_id_ = std::max(last_id_, id);
  trim(now);
}

void RetainedEvents::trim(std::int64_t now) {
  while (events_.size() > settings_.max_events) pop_oldest();
  const std::int64_t oldest_kept = now - settings_.max_age.count();
  while (!events_.empty() && events_.front()->ts < oldest_kept) pop_oldest();
}

void RetainedEvents::pop_oldest() {
  events_.pop_front();
  encoded_.pop_front();
}

RetainedEvents::Encoded* RetainedEvents::encoded_from_back(std::size_t back, const StoredEvent& event) {
  if (back >= events_.size()) return nullptr;
  const std::size_t index = events_.size() - 1 - back;
  return events_[index].get() == &event ? &encoded_[index] : nullptr;
}

std::uint64_t RetainedEvents::oldest() const {
  return events_.empty() ? last_id_ + 1 : events_.front()->id;
}

std::size_t RetainedEvents::first_after(std::uint64_t id) const {
  const auto found = std::partition_point(events_.begin(), events_.end(),
                                          [id](const SharedEvent& event) { return event->id <= id; });
  return static_cast<std::size_t>(found - events_.begin());
}

RetainedEvents::Page RetainedEvents::page(std::uint64_t before, std::size_t limit, std::int64_t now) {
  trim(now);
  // Ids grow but may skip (after a crash): positions are found by search, not by subtraction.
  const std::size_t end = before == 0 ? events_.size() : first_after(before - 1);
  const std::size_t begin = end > limit ? end - limit : 0;
  const auto first = events_.begin() + static_cast<std::ptrdiff_t>(begin);
  return Page{Slice{first, events_.begin() + static_cast<std::ptrdiff_t>(end)},
              begin > 0 ? std::optional<std::uint64_t>((*first)->id) : std::nullopt};
}

RetainedEvents::Replay RetainedEvents::replay(std::uint64_t since, std::int64_t now) {
  trim(now);
  const bool complete = since <= last_id_ && since + 1 >= oldest();
  const std::size_t first = first_after(since);
  return Replay{Slice{events_.begin() + static_cast<std::ptrdiff_t>(first), events_.end()}, first, complete};
}

}  // namespace chatd
