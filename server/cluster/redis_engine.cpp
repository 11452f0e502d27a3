#include "server/cluster/redis_engine.hpp"

#include <utility>

namespace chatd::cluster {

RedisEngine::RedisEngine(ClusterNode& node, ClusterNode::Loaded loaded)
    : node_(node), feed_(std::move(loaded.feed)), loaded_(std::move(loaded.history)) {}

RedisEngine::~RedisEngine() {
  node_.detach(feed_);
}

HistoryStore::RoomHistory RedisEngine::take_loaded_history() {
  return std::exchange(loaded_, HistoryStore::RoomHistory{});
}

void RedisEngine::sequence(EventType type, const std::string& name, std::span<std::string> texts,
                           std::int64_t ts, std::vector<SharedEvent>&) {
  if (type != EventType::message) return;  // session_changed() says false: the room never announces
  if (!texts_.empty() && name != name_) commit_pending();
  name_ = name;
  ts_ = ts;
  for (auto& text : texts) texts_.push_back(std::move(text));
}

void RedisEngine::commit_pending() {
  std::shared_ptr<PublishReply> no_reply;
  commit(no_reply, 0);
}

void RedisEngine::commit(std::shared_ptr<PublishReply>& reply, std::uint64_t) {
  if (texts_.empty()) {
    // Nothing to number (a command that only joined or left): a publisher waiting is told nothing
    // was published; there is none in practice, as a publish always has texts.
    refused_ = nullptr;
    return;
  }
  AppendRequest request;
  request.name = std::move(name_);
  request.texts = std::move(texts_);
  request.ts = ts_;
  request.reply = std::exchange(reply, nullptr);
  request.refused = std::exchange(refused_, nullptr);
  texts_.clear();
  name_.clear();
  node_.append(feed_, std::move(request));
}

bool RedisEngine::session_changed(const std::string& name, int delta, std::uint32_t) {
  node_.session_changed(feed_, name, delta);
  return false;
}

bool RedisEngine::answer_presence(std::shared_ptr<QueryReply>& answer) {
  node_.presence(feed_, std::exchange(answer, nullptr));
  return true;
}

void RedisEngine::deliver_to(std::function<bool(SequencedBatch& batch)> deliver) {
  node_.deliver_to(feed_, std::move(deliver));
}

std::unique_ptr<Engine> RedisEngineFactory::load(const std::string& room) {
  return std::make_unique<RedisEngine>(node_, node_.load(room));
}

}  // namespace chatd::cluster
