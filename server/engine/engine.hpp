// The engine seam: what numbers a room's events and keeps them, split from the room, which fans out
// events that are already numbered. The room owns its subscribers, presence and the retained window
// (fan-out, the too-slow policy, history pages, recovery); its engine owns the ids, the epoch and storage.
//
// Today's engine is LocalEngine (server/engine/local_engine.hpp): ids counted in the room's own thread,
// events handed to the write-behind HistoryStore (SQLite or memory). It numbers synchronously, so the
// room fans out in the same command, as before the seam: one virtual call per batch, none per subscriber.
//
// How a Redis engine (issue 12: several nodes) plugs in here, without touching fan-out, presence or
// recovery:
//  - sequence() numbers nothing itself: it queues the texts for Redis (INCRBY the room's counter and
//    XADD/PUBLISH the events in one MULTI or script, so ids are assigned atomically across nodes) and
//    appends nothing to `numbered`.
//  - commit() sends what sequence() queued during the command and keeps `reply` until Redis answers with
//    the first id; then it answers the publisher from its own thread (PublishReply is a concurrent channel).
//  - Every node's engine subscribes to the room's channel. The events it receives, numbered by Redis (its
//    own node's among them: the room never fans out a publish before Redis numbered it), go to the room
//    through its inbox as a DeliverSequenced command (room_command.hpp), from the subscription's thread.
//    engine/ may not include rooms/, so the engine is given a delivery function that the registry binds
//    to Room::try_send (or Room::send, to be held back when the inbox is full). The room fans them out
//    exactly as it fans out LocalEngine's events, retains them and serves replay from them; events that
//    arrive through the inbox are ordered with joins, so a join's replay then live events have no gap and
//    no duplicate. After a lost subscription the engine reads the ids it missed (XRANGE from the last id
//    delivered) and delivers them before anything newer.
//  - take_loaded_history() returns what Redis keeps (epoch, last id, the stream's tail), read on the
//    registry's loader thread when the engine is made, as LocalEngine's history is read from the store
//    there today (HistoryStore::load is blocking I/O, kept off the worker threads).
// Presence counts stay per node; joins and leaves are numbered events like messages, so every node's
// subscribers see them. Events delivered from elsewhere have no author to serve first (fan_out's author
// is null): author-first stays a LocalEngine nicety unless the engine hands the author back.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "server/engine/publish_reply.hpp"
#include "server/store/history_store.hpp"
#include "server/store/stored_event.hpp"

namespace chatd {

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
};

}  // namespace chatd
