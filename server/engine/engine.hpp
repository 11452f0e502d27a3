// The engine seam: what numbers a room's events and keeps them, split from the room, which fans out
// events that are already numbered. The room owns its subscribers, presence and the retained window
// (fan-out, the too-slow policy, history pages, recovery); its engine owns the ids, the epoch and storage.
//
// Today's engine is LocalEngine (server/engine/local_engine.hpp): ids counted in the room's own thread,
// events handed to the write-behind HistoryStore (SQLite or memory). It numbers synchronously, so the
// room fans out in the same command, as before the seam: one virtual call per batch, none per subscriber.
//
// The Redis engine (server/cluster/redis_engine.hpp, docs/cluster.md) numbers elsewhere: sequence()
// appends nothing, commit() sends the batch to Redis in one script call, and every node's events come
// back through the room's inbox (DeliverSequenced) from the cluster thread, in id order, gaps filled from
// the Redis stream first. It also counts presence across nodes (session_changed, answer_presence) and may
// refuse a publish after the command ended (refuses_later): Redis unreachable for cluster.unavailable_wait.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "server/engine/publish_reply.hpp"
#include "server/engine/query_reply.hpp"
#include "server/store/history_store.hpp"
#include "server/store/stored_event.hpp"

namespace chatd {

// Events numbered elsewhere, for a room to fan out and retain (room_command.hpp: DeliverSequenced).
struct SequencedBatch {
  std::vector<SharedEvent> events;  // consecutive ids, oldest first
  // The epoch they belong to: a room that has none yet (new) takes it.
  std::string epoch;
  // The room's history starts again from `events` (a new epoch, or a hole the engine could not fill):
  // the retained window is replaced, live JSON subscribers get a `reset` event, and a recovery from
  // before it is not complete. `last` is the id the events follow (the next live event is last + 1).
  bool reset = false;
  std::uint64_t last = 0;
};

class Engine {
 public:
  virtual ~Engine() = default;

  // Once, when the room is made (any thread, before the room starts): what the room starts from, its
  // epoch, the last id given and the retained events, oldest first. Later calls return an empty history.
  virtual HistoryStore::RoomHistory take_loaded_history() = 0;

  // Room thread. Numbers new events of the room: one event of `type` by `name` per text (a join or a
  // leave: one text, empty), all with time `ts`, taking the texts. The events numbered now are appended to
  // `numbered` in id order, consecutive after the last ones; an engine that numbers elsewhere appends
  // none and delivers them later through the room's inbox (DeliverSequenced). Throws only when memory
  // runs out: what it numbered before stands, and is stored by the next commit().
  virtual void sequence(EventType type, const std::string& name, std::span<std::string> texts,
                        std::int64_t ts, std::vector<SharedEvent>& numbered) = 0;

  // Room thread, once at the end of every command, after its events were fanned out: stores what was
  // numbered since the last commit. `reply` (null: no publisher to answer) gets the id of the first of
  // those events, at once or, with history.durability: sync, once they are on disk; it is let go of
  // (null) once answered or handed over, so should commit() throw before that, the caller answers it
  // instead and never a second time. `kept_from`: the oldest id the room still retains (older stored
  // events may be dropped).
  virtual void commit(std::shared_ptr<PublishReply>& reply, std::uint64_t kept_from) = 0;
  // Any thread, once the room's actor has ended (Room::finished): every event numbered is in the store
  // (committed, or given up on), so a room loaded from the store now continues after the last id. The
  // registry waits for it before it reloads a reclaimed room. The default is for an engine whose events
  // are stored when they are numbered (a Redis engine: numbered by the store itself).
  virtual bool all_stored() const { return true; }

  // Room thread: a session of `name` entered (delta +1) or left (-1) the room on this node, which now
  // holds `local_sessions` of it. True: the room announces the join or leave itself (on 0<->1, one node).
  // An engine that counts presence across nodes numbers joins and leaves itself and says false.
  virtual bool session_changed(const std::string& name, int delta, std::uint32_t local_sessions) {
    (void)name;
    return delta > 0 ? local_sessions == 1 : local_sessions == 0;
  }
  // Room thread: answers a presence question itself (across nodes), taking `answer`; false: the room
  // answers from its own count.
  virtual bool answer_presence(std::shared_ptr<QueryReply>& answer) {
    (void)answer;
    return false;
  }
  // Whether a publish may be refused after its command ended (numbered elsewhere, and that failed). Then,
  // for a publisher with no reply to answer (a WebSocket), the room says before commit() what to do then:
  // `refused` runs once, on any thread, if that publish is refused.
  virtual bool refuses_later() const { return false; }
  virtual void on_next_refusal(std::function<void()> refused) { (void)refused; }
  // Any thread, once, right after the room started: where events numbered elsewhere go. `deliver` hands a
  // batch to the room's inbox without waiting; false (and the batch untouched) when the inbox is full or
  // closed. An engine that numbers on the room's thread never calls it.
  virtual void deliver_to(std::function<bool(SequencedBatch& batch)> deliver) { (void)deliver; }
};

}  // namespace chatd
