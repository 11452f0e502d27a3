// chatd's own benchmark (meson test --benchmark): starts chatd and drives it over loopback.
//   fanout:      N subscribers spread over R rooms; in each room one of them publishes M messages of S bytes
//                with W in flight (and at most 128 ahead of the room's slowest subscriber).
//                Prints deliveries/s, publish-to-receive latency, server CPU per delivery; checks that
//                every subscriber got every message exactly once, in order.
//   connections: K idle WebSocket connections; prints server RSS per connection, then checks that every
//                one of them still receives a message published over HTTP.
// It asserts correctness, never timing: the figures are for reading and comparing.
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "test/support/chatd_process.hpp"
#include "test/support/clients.hpp"

using namespace chatd::test;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string scenario = "fanout";
  int subs = 1000;
  int msgs = 2000;
  int size = 64;
  int window = 8;
  int idle = 10000;
  int rooms = 1;
  int threads = 0;
  std::string format = "text";
  std::string history = "sqlite";  // history.store
};

Options parse(int argc, char** argv) {
  Options o;
  const std::map<std::string, int*> numbers = {
      {"--subs", &o.subs}, {"--msgs", &o.msgs},   {"--size", &o.size},      {"--window", &o.window},
      {"--idle", &o.idle}, {"--rooms", &o.rooms}, {"--threads", &o.threads}};
  const std::map<std::string, std::string*> words = {
      {"--scenario", &o.scenario}, {"--format", &o.format}, {"--history", &o.history}};
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i], value = argv[i + 1];
    if (auto number = numbers.find(key); number != numbers.end()) {
      *number->second = std::stoi(value);
    } else if (auto word = words.find(key); word != words.end()) {
      *word->second = value;
    } else {
      throw std::runtime_error("unknown option " + key);
    }
  }
  return o;
}

// Server CPU seconds (user + system) and resident set from /proc.
double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream fields(text.substr(text.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; fields >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(field);
    if (i == 15) break;
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

std::string config(const Options& o) {
  // The limiter and slow-client policy stay on; the benchmark only widens them, like the peers' harness.
  return "server: { threads: " + std::to_string(o.threads) +
         " }\npublish: { rate: 100000000, burst: 100000000 }\nsubscriber: { queue: 256 }\nlog: { level: info "
         "}\nlimits: { handshake_rate: 100000000, handshake_burst: 100000000 }\nhistory: { store: " +
         o.history + " }\n";
}

// "seq:send_time_ns:" padded with 'x' to `size` bytes.
std::string payload(int seq, std::int64_t sent_ns, int size) {
  std::string text = std::to_string(seq) + ":" + std::to_string(sent_ns) + ":";
  if (static_cast<int>(text.size()) < size) text.append(static_cast<std::size_t>(size) - text.size(), 'x');
  return text;
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

// The event text: the raw frame for format=text, the "text" field of the JSON event otherwise.
std::string_view text_of(const Frame& frame, bool json, std::string& scratch) {
  if (!json) return frame.payload;
  scratch = json_string(frame.payload, "text");
  return scratch;
}

struct Percentiles {
  double p50, p99, max;
};
Percentiles percentiles(std::vector<std::int64_t>& ns) {
  std::sort(ns.begin(), ns.end());
  auto at = [&](double q) {
    return ns.empty() ? 0.0 : ns[static_cast<std::size_t>(q * (ns.size() - 1))] / 1e6;
  };
  return {at(0.5), at(0.99), ns.empty() ? 0.0 : ns.back() / 1e6};
}

// One room of the fan-out: its publisher (one of its subscribers) and how far its messages have got.
struct RoomLoad {
  std::size_t publisher = 0;  // index into the clients
  int members = 0;
  int sent = 0;
  int echoed = 0;            // the publisher's own messages it has received back
  int delivered_to_all = 0;  // messages every member has received
  std::vector<int> received_by;
};

int fanout(const Options& o) {
  ChatdProcess server(config(o));
  const bool json = o.format == "json";
  const std::size_t room_count = static_cast<std::size_t>(std::max(1, o.rooms));
  if (static_cast<std::size_t>(o.subs) < room_count) throw std::runtime_error("--subs must be >= --rooms");
  std::vector<RoomLoad> rooms(room_count);
  std::vector<WsClient> clients(static_cast<std::size_t>(o.subs));
  for (std::size_t i = 0; i < clients.size(); ++i) {
    RoomLoad& room = rooms[i % room_count];
    if (room.members++ == 0) room.publisher = i;  // the first member of each room publishes
    const std::string target =
        "/subscribe?room=bench-" + std::to_string(i % room_count) + "&format=" + o.format;
    if (clients[i].open(server.port(), target) != 101) throw std::runtime_error("handshake failed");
  }
  for (auto& room : rooms) room.received_by.assign(static_cast<std::size_t>(o.msgs), 0);

  const int epoll = epoll_create1(EPOLL_CLOEXEC);
  for (std::size_t i = 0; i < clients.size(); ++i) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = i;
    epoll_ctl(epoll, EPOLL_CTL_ADD, clients[i].fd(), &event);
  }
  std::vector<int> next_seq(clients.size(), 0);
  // Each publisher keeps `window` of its own messages in flight (acknowledged by their echo, as the shared
  // harness does), and never runs more than `max_lead` ahead of its room's slowest subscriber: this
  // one-thread client must not fall behind and be closed as slow, which would measure the client.
  constexpr int max_lead = 128;  // half of the benchmark's subscriber.queue
  std::vector<std::int64_t> latencies;
  latencies.reserve(static_cast<std::size_t>(o.subs) * static_cast<std::size_t>(o.msgs) / 10 + 16);
  long long deliveries = 0, errors = 0, closed = 0;
  const long long expected = static_cast<long long>(o.subs) * o.msgs;

  const double cpu_before = cpu_seconds(server.pid());
  const auto start = Clock::now();
  auto last_progress = start;
  std::string scratch;
  std::vector<epoll_event> events(1024);
  while (deliveries + errors < expected) {
    for (auto& room : rooms) {
      while (room.sent < o.msgs && room.sent - room.echoed < o.window &&
             room.sent - room.delivered_to_all < max_lead) {
        clients[room.publisher].send_text(payload(room.sent, now_ns(), o.size));
        ++room.sent;
      }
    }
    const int ready = epoll_wait(epoll, events.data(), static_cast<int>(events.size()), 100);
    for (int e = 0; e < ready; ++e) {
      const std::size_t index = events[e].data.u64;
      WsClient& client = clients[index];
      RoomLoad& room = rooms[index % room_count];
      if (!client.read_available()) epoll_ctl(epoll, EPOLL_CTL_DEL, client.fd(), nullptr);
      while (auto frame = client.pop_frame()) {
        if (frame->opcode == 8) {
          ++closed;
          continue;
        }
        if (frame->opcode != 1) continue;
        const std::string_view text = text_of(*frame, json, scratch);
        int seq = -1;
        std::from_chars(text.data(), text.data() + text.size(), seq);
        if (seq != next_seq[index]) ++errors;  // a gap, a duplicate or a reorder
        next_seq[index] = seq + 1;
        ++deliveries;
        if (seq >= 0 && seq < o.msgs && ++room.received_by[static_cast<std::size_t>(seq)] == room.members) {
          while (room.delivered_to_all < room.sent &&
                 room.received_by[static_cast<std::size_t>(room.delivered_to_all)] == room.members) {
            ++room.delivered_to_all;
          }
        }
        // Sample one delivery in ten for latency: enough for p99, cheap for the client.
        if (seq % 10 == static_cast<int>(index % 10)) {
          const auto colon = text.find(':');
          std::int64_t sent_ns = 0;
          std::from_chars(text.data() + colon + 1, text.data() + text.size(), sent_ns);
          latencies.push_back(now_ns() - sent_ns);
        }
        if (index == room.publisher) ++room.echoed;
        last_progress = Clock::now();
      }
    }
    if (Clock::now() - last_progress > 10s) break;  // stalled: report what arrived
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const double cpu = cpu_seconds(server.pid()) - cpu_before;
  ::close(epoll);
  const auto lat = percentiles(latencies);
  std::printf(
      "fanout: %d subscribers in %zu room(s) x %d messages per room of %d B (format=%s, window %d, server "
      "threads %s, history %s)\n"
      "  deliveries %lld/%lld in %.3f s = %.0f deliveries/s\n"
      "  latency ms p50 %.2f p99 %.2f max %.2f\n"
      "  server CPU %.2f s = %.3f us per delivery\n"
      "  order errors %lld, closed by server %lld\n",
      o.subs, room_count, o.msgs, o.size, o.format.c_str(), o.window,
      o.threads == 0 ? "one per core" : std::to_string(o.threads).c_str(), o.history.c_str(), deliveries,
      expected, seconds, deliveries / seconds, lat.p50, lat.p99, lat.max, cpu,
      cpu * 1e6 / std::max(1LL, deliveries), errors, closed);
  server.stop();
  const bool ok = deliveries == expected && errors == 0 && closed == 0;
  std::printf("  %s\n", ok ? "exactly once, in order: ok" : "CORRECTNESS FAILURE");
  if (!ok) std::printf("server log:\n%s\n", server.log().c_str());
  return ok ? 0 : 1;
}

int connections(const Options& o) {
  ChatdProcess server(config(o));
  std::this_thread::sleep_for(200ms);
  const long rss_before = rss_kib(server.pid());
  std::vector<WsClient> clients(static_cast<std::size_t>(o.idle));
  const auto start = Clock::now();
  for (auto& client : clients) {
    if (client.open(server.port(), "/subscribe?room=idle") != 101)
      throw std::runtime_error("handshake failed");
  }
  const double connect_s = std::chrono::duration<double>(Clock::now() - start).count();
  std::this_thread::sleep_for(1s);
  const long rss_after = rss_kib(server.pid());

  // Every connection is still served: one message reaches all of them.
  const auto published = http_post(server.port(), "/publish?room=idle", "still there?");
  std::size_t received = 0;
  pump(
      clients, 30s, [&](std::size_t, Frame& frame) { received += frame.opcode == 1; },
      [&] { return received == clients.size(); });
  std::printf(
      "connections: %d idle WebSocket connections, opened in %.2f s\n"
      "  server RSS %ld KiB before, %ld KiB after = %.2f KiB per connection\n"
      "  a message published to all of them: HTTP %d, received by %zu/%d\n",
      o.idle, connect_s, rss_before, rss_after, static_cast<double>(rss_after - rss_before) / o.idle,
      published.status, received, o.idle);
  server.stop();
  const bool ok = published.status == 202 && received == clients.size();
  std::printf("  %s\n", ok ? "every connection served: ok" : "CORRECTNESS FAILURE");
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
  std::signal(SIGPIPE, SIG_IGN);
  try {
    const Options options = parse(argc, argv);
    if (options.scenario == "fanout") return fanout(options);
    if (options.scenario == "connections") return connections(options);
    std::cerr << "unknown scenario " << options.scenario << "\n";
    return 2;
  } catch (const std::exception& error) {
    std::cerr << "bench: " << error.what() << "\n";
    return 1;
  }
}
