// The engine of a room in a cluster on Redis (cluster.engine: redis; docs/cluster.md): Redis numbers and
// keeps the room's events, every node's room fans out what its ClusterNode hands it, in id order.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "server/cluster/cluster_node.hpp"
#include "server/engine/engine.hpp"
#include "server/engine/engine_factory.hpp"

namespace chatd::cluster {

class RedisEngine final : public Engine {
 public:
  RedisEngine(ClusterNode& node, ClusterNode::Loaded loaded);
  ~RedisEngine() override;

  HistoryStore::RoomHistory take_loaded_history() override;
  // Numbers nothing here: the texts wait for commit(), which sends them to Redis in one script call.
  // Joins and leaves are not numbered here either: session_changed() counts them across nodes.
  void sequence(EventType type, const std::string& name, std::span<std::string> texts, std::int64_t ts,
                std::vector<SharedEvent>& numbered) override;
  void commit(std::shared_ptr<PublishReply>& reply, std::uint64_t kept_from) override;
  bool session_changed(const std::string& name, int delta, std::uint32_t local_sessions) override;
  bool answer_presence(std::shared_ptr<QueryReply>& answer) override;
  bool refuses_later() const override { return true; }
  void on_next_refusal(std::function<void()> refused) override { refused_ = std::move(refused); }
  void deliver_to(std::function<bool(SequencedBatch& batch)> deliver) override;

 private:
  void commit_pending();  // another author's messages in the same command: a batch of their own

  ClusterNode& node_;
  std::shared_ptr<RoomFeed> feed_;
  HistoryStore::RoomHistory loaded_;
  // Room thread: the messages of the command being handled.
  std::string name_;
  std::vector<std::string> texts_;
  std::int64_t ts_ = 0;
  std::function<void()> refused_;
};

class RedisEngineFactory final : public EngineFactory {
 public:
  explicit RedisEngineFactory(ClusterNode& node) : node_(node) {}
  bool knows(const std::string& room) override { return node_.knows(room); }
  std::unique_ptr<Engine> load(const std::string& room) override;

 private:
  ClusterNode& node_;
};

}  // namespace chatd::cluster
