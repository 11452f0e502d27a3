// What can be asked of a room: each kind of command with exactly its fields. Commands travel through the
// room's inbox, so the room's state needs no lock and events are numbered in the order they are handled.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <asio/error_code.hpp>
#include <asio/experimental/concurrent_channel.hpp>

#include "server/engine/engine.hpp"
#include "server/engine/publish_reply.hpp"
#include "server/engine/query_reply.hpp"
#include "server/rooms/subscriber.hpp"
#include "server/store/stored_event.hpp"

namespace chatd {

// A subscriber enters; with `since`, what it missed is queued for it first.
struct JoinRoom {
  std::shared_ptr<Subscriber> subscriber;
  std::optional<std::uint64_t> since;  // recover the events after this id
  std::string epoch;                   // with since: the epoch the client knows ("" = any)
};

struct LeaveRoom {
  std::shared_ptr<Subscriber> subscriber;
};

// One or more messages, given consecutive ids (by the room's engine).
struct PublishMessages {
  std::shared_ptr<Subscriber> author;  // the author, if it is a subscriber (WebSocket): served first
  std::string name;                    // the author's name
  std::vector<std::string> texts;
  std::shared_ptr<PublishReply> reply;  // optional (HTTP): gets the id of the first text
};

struct PresenceQuery {
  std::shared_ptr<QueryReply> answer;
};

struct HistoryQuery {
  std::uint64_t before = 0;  // events older than this id (0: the newest)
  std::size_t limit = 0;     // at most this many events
  std::shared_ptr<QueryReply> answer;
  std::size_t max_bytes = SIZE_MAX;  // the page's body stops before this (at least one event)
};

// Events numbered elsewhere (by an engine that does not number on the room's thread: Redis, engine.hpp),
// in id order, for the room to fan out and retain. LocalEngine never sends it: its events are fanned
// out in the command that made them.
struct DeliverSequenced {
  std::vector<SharedEvent> events;
  std::string epoch;  // SequencedBatch: the epoch, and whether the room's history starts again
  bool reset = false;
  std::uint64_t last = 0;
};

// The admin listener (docs/api.md): the room's summary, with each of its sessions when `sessions`.
struct AdminQuery {
  bool sessions = false;
  std::shared_ptr<QueryReply> answer;  // protocol::admin_room_json
};

// The admin listener: closes (docs/api.md, 4004) the sessions of user `name`, or the session `session`;
// answers how many, as a decimal number.
struct AdminDisconnect {
  std::string name;           // "" = by session id
  std::uint64_t session = 0;  // 0 = by name
  std::shared_ptr<QueryReply> answer;
};

using RoomCommand = std::variant<JoinRoom, LeaveRoom, PublishMessages, PresenceQuery, HistoryQuery,
                                 DeliverSequenced, AdminQuery, AdminDisconnect>;

}  // namespace chatd
