// chatd's own benchmark (meson test --benchmark): starts chatd and drives it over loopback.
//   fanout:      N subscribers spread over R rooms; in each room one of them publishes M messages of S bytes
//                with W in flight (and at most 128 ahead of the room's slowest subscriber).
//                Prints deliveries/s, publish-to-receive latency, server CPU per delivery; checks that
//                every subscriber got every message exactly once, in order.
//   connections: K idle WebSocket connections (or event streams, --transport sse); prints server RSS per
//                connection, then checks that every one of them still receives a message published over
//                HTTP.
//   handshakes:  C client threads open N WebSocket connections one after another (upgrade, 101, close 1000);
//                prints handshakes/s, upgrade latency and server CPU per handshake.
//   logins:      auth.mode password; C client threads make N POST /login with the right password; prints
//                logins/s and server CPU per login (scrypt bounds it).
// --publisher ws|http (fanout): http posts the messages over --http-publishers (8) keep-alive POST /publish
// connections instead of from a member of each room, with one request in flight per room (so the room's
// order is the order sent); it also reports CPU per message and chatd's RSS.
// --transport websocket|sse (fanout): sse has every subscriber but each room's publisher read the room as
// Server-Sent Events (GET /events), to compare the two write paths under the same load.
// --nodes 1|2|both (fanout): 2 runs two chatd nodes on one redis-server started here (cluster.engine redis,
// docs/cluster.md); member k of each room connects to node k % 2, so every room's publisher (member 0) is on
// node 0 and its subscribers are on both. Server CPU is reported per node and for Redis; both alternates one
// node and two (--runs of each, one node first). --rate R (fanout): R messages/s in all, paced over the
// rooms in turn, instead of a closed loop: the latency at a given load (--msgs is still per room).
// --auth open|jwt|both (fanout, handshakes, connections): jwt runs chatd with auth.mode jwt, an HS256 secret
// file made here, and a token for every connection minted here with python's hmac (not chatd's code); both
// alternates open and jwt runs (--runs of each, open first) and prints each run and the medians. It asserts
// correctness, never timing: the figures are for reading and comparing.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
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
  int runs = 1;         // runs of each auth mode
  int conns = 10000;    // handshakes
  int logins = 50;      // logins
  int concurrency = 8;  // client threads of handshakes and logins
  int rate = 0;         // fanout: messages/s over all rooms; 0 = closed loop
  std::string format = "text";
  std::string history = "sqlite";       // history.store
  std::string auth = "open";            // open, jwt, or both (alternating)
  std::string nodes = "1";              // fanout: 1, 2 (on one Redis), both or all (alternating)
  std::string transport = "websocket";  // fanout: how the subscribers that do not publish read
  std::string publisher = "ws";         // fanout: ws (a member of each room) or http (POST /publish)
  int http_publishers = 8;              // fanout with --publisher http: keep-alive connections
};

Options parse(int argc, char** argv) {
  Options o;
  const std::map<std::string, int*> numbers = {{"--subs", &o.subs},
                                               {"--msgs", &o.msgs},
                                               {"--size", &o.size},
                                               {"--window", &o.window},
                                               {"--idle", &o.idle},
                                               {"--rooms", &o.rooms},
                                               {"--threads", &o.threads},
                                               {"--runs", &o.runs},
                                               {"--conns", &o.conns},
                                               {"--logins", &o.logins},
                                               {"--concurrency", &o.concurrency},
                                               {"--rate", &o.rate},
                                               {"--http-publishers", &o.http_publishers}};
  const std::map<std::string, std::string*> words = {
      {"--scenario", &o.scenario},  {"--format", &o.format}, {"--history", &o.history},
      {"--auth", &o.auth},          {"--nodes", &o.nodes},   {"--transport", &o.transport},
      {"--publisher", &o.publisher}};
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
  if (o.nodes != "1" && o.nodes != "2" && o.nodes != "both" && o.nodes != "all")
    throw std::runtime_error("--nodes is 1, 2, both or all, not " + o.nodes);
  if (o.publisher != "ws" && o.publisher != "http")
    throw std::runtime_error("--publisher is ws or http, not " + o.publisher);
  if (o.transport != "websocket" && o.transport != "sse")
    throw std::runtime_error("--transport is websocket or sse, not " + o.transport);
  return o;
}

// CPU seconds (user + system) from a /proc stat file: a process's, or one of its threads'.
double cpu_seconds_in(const std::string& stat_path) {
  std::ifstream in(stat_path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.rfind(')') == std::string::npos) return 0;  // the thread or process is gone
  std::istringstream fields(text.substr(text.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; fields >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(field);
    if (i == 15) break;
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double cpu_seconds(pid_t pid) {
  return cpu_seconds_in("/proc/" + std::to_string(pid) + "/stat");
}

// CPU seconds of the threads of `pid` named `name` (chatd names its threads: server/core/thread_name.hpp).
double thread_cpu_seconds(pid_t pid, const std::string& name) {
  const std::filesystem::path tasks = "/proc/" + std::to_string(pid) + "/task";
  std::error_code error;
  double seconds = 0;
  for (const auto& task : std::filesystem::directory_iterator(tasks, error)) {
    std::ifstream comm(task.path() / "comm");
    std::string thread_name;
    if (!std::getline(comm, thread_name) || thread_name != name) continue;
    seconds += cpu_seconds_in((task.path() / "stat").string());
  }
  return seconds;
}

// The whole machine's busy CPU seconds (/proc/stat: user, nice, system, irq, softirq, steal) and this
// process's own (all its threads): what is left of the first after the server's and ours is other work on
// the machine during a run, the figure that says whether a run was disturbed.
double machine_busy_seconds() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  double user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  in >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal;
  return (user + nice + system + irq + softirq + steal) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double own_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// CPU seconds of the servers (each, and in all), of this load client and of everything else, between start()
// and stop().
struct CpuMeter {
  std::vector<pid_t> servers;
  std::vector<double> each_before, each_s;
  double own_before = 0, busy_before = 0;
  double server_s = 0, client_s = 0, other_s = 0;
  double history_before = 0, history_s = 0;  // the servers' SQLite writer threads, a part of server_s
  double history_seconds() const {
    double seconds = 0;
    for (const pid_t server : servers) seconds += thread_cpu_seconds(server, "history-writer");
    return seconds;
  }
  void start() {
    each_before.clear();
    history_before = history_seconds();
    for (const pid_t server : servers) each_before.push_back(cpu_seconds(server));
    own_before = own_cpu_seconds();
    busy_before = machine_busy_seconds();
  }
  void stop() {
    each_s.clear();
    server_s = 0;
    for (std::size_t i = 0; i < servers.size(); ++i) {
      each_s.push_back(cpu_seconds(servers[i]) - each_before[i]);
      server_s += each_s.back();
    }
    history_s = history_seconds() - history_before;
    client_s = own_cpu_seconds() - own_before;
    other_s = std::max(0.0, machine_busy_seconds() - busy_before - server_s - client_s);
  }
};

long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// One redis-server on a free loopback port in a folder of its own, for the cluster runs: nothing persisted
// (the figures are of the engine, not of Redis' disk) and noeviction, as docs/cluster.md requires (an evicted
// stream would lose history silently). Stopped with SIGTERM.
class RedisProcess {
 public:
  RedisProcess() : folder_(make_temp_folder()) {
    static constexpr const char* binary = "/usr/bin/redis-server";
    if (::access(binary, X_OK) != 0)
      throw std::runtime_error("redis-server is not installed (apt-get install redis-server)");
    port_ = free_port();
    const std::string port = std::to_string(port_), log = folder_ + "/redis.log";
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::execl(binary, binary, "--port", port.c_str(), "--bind", "127.0.0.1", "--save", "", "--appendonly",
              "no", "--maxmemory-policy", "noeviction", "--dir", folder_.c_str(), "--logfile", log.c_str(),
              "--daemonize", "no", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (const auto deadline = Clock::now() + 5s; !answers_ping();) {
      if (Clock::now() > deadline) {
        stop();
        throw std::runtime_error("redis-server on port " + port + " does not answer PING");
      }
      std::this_thread::sleep_for(20ms);
    }
  }
  ~RedisProcess() {
    stop();
    remove_folder(folder_);
  }
  RedisProcess(const RedisProcess&) = delete;
  RedisProcess& operator=(const RedisProcess&) = delete;

  std::uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }

 private:
  // The kernel's choice of a free port, released for redis-server to take.
  static std::uint16_t free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof address;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
      if (fd >= 0) ::close(fd);
      throw std::runtime_error("no free port");
    }
    ::close(fd);
    return ntohs(address.sin_port);
  }
  // An inline PING (RESP allows one for humans at a terminal) answered +PONG.
  bool answers_ping() const {
    try {
      const int fd = connect_loopback(port_);
      const std::string ping = "PING\r\n";
      char reply[16] = {};
      const bool ok =
          ::send(fd, ping.data(), ping.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(ping.size()) &&
          ::recv(fd, reply, sizeof reply - 1, 0) > 0 && std::string_view(reply).rfind("+PONG", 0) == 0;
      ::close(fd);
      return ok;
    } catch (const std::exception&) {
      return false;  // not listening yet
    }
  }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  std::string folder_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

// Where a fan-out run's subscribers connect: one chatd as before (engine none), or `nodes` chatd nodes on one
// redis-server (engine redis). One node on Redis separates what Redis adds from what a second node adds.
struct Topology {
  int nodes = 1;
  bool redis = false;
  std::string suffix() const {
    if (!redis) return "";
    return nodes == 1 ? " 1 node+redis" : " " + std::to_string(nodes) + " nodes+redis";
  }
};

std::vector<Topology> topologies(const Options& o) {
  if (o.nodes == "1") return {{1, false}};
  if (o.nodes == "2") return {{2, true}};
  if (o.nodes == "both") return {{1, false}, {2, true}};
  return {{1, false}, {1, true}, {2, true}};  // all
}

std::string config(const Options& o, const std::string& auth_yaml = "") {
  // The limiter and slow-client policy stay on; the benchmark only widens them, like the peers' harness.
  return "server: { threads: " + std::to_string(o.threads) +
         " }\npublish: { rate: 100000000, burst: 100000000 }\nsubscriber: { queue: 256 }\nlog: { level: info "
         "}\nlimits: { handshake_rate: 100000000, handshake_burst: 100000000 }\nrooms: { create_rate: "
         "100000000, "
         "create_burst: 100000000 }\nhistory: { store: " +
         o.history + " }\n" + auth_yaml;
}

void write_file(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  if (!out.flush()) throw std::runtime_error("cannot write " + path);
}

std::string random_hex(std::size_t bytes) {
  std::ifstream in("/dev/urandom", std::ios::binary);
  std::string raw(bytes, '\0');
  if (!in.read(raw.data(), static_cast<std::streamsize>(raw.size())))
    throw std::runtime_error("no /dev/urandom");
  static constexpr char digits[] = "0123456789abcdef";
  std::string hex;
  for (const unsigned char byte : raw) {
    hex.push_back(digits[byte >> 4]);
    hex.push_back(digits[byte & 15]);
  }
  return hex;
}

// Mints HS256 JWTs (RFC 7519) with python's own hmac, hashlib and base64, so the tokens chatd checks do not
// come from chatd's code. The key is the secret file's bytes less one trailing newline, as
// auth.jwt.secret_file is read (docs/config.md). One token a line: sub PREFIXi for i < COUNT, iat now, exp
// now + TTL seconds, and rooms ["bench-*", "idle"] (every benchmark room), so each connection's room is
// checked against its token.
constexpr const char* mint_script = R"(import base64, hashlib, hmac, json, sys, time
path, prefix, count, ttl = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
key = open(path, 'rb').read()
if key.endswith(b'\n'):
    key = key[:-1]
def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b'=').decode()
def part(obj):
    return b64(json.dumps(obj, separators=(',', ':')).encode())
head = part({'alg': 'HS256', 'typ': 'JWT'})
now = int(time.time())
out = []
for i in range(count):
    signed = head + '.' + part({'sub': prefix + str(i), 'iat': now, 'exp': now + ttl, 'rooms': ['bench-*', 'idle']})
    out.append(signed + '.' + b64(hmac.new(key, signed.encode(), hashlib.sha256).digest()))
sys.stdout.write('\n'.join(out) + '\n')
)";

// One run's folder (chatd's config goes there, so auth.jwt.secret_file is relative to it) and what its auth
// mode needs: open (no auth: section, as before issue 11), jwt (an HS256 secret file) or password (a shared
// password hashed by `chatd --hash-password`). Removes the folder when done.
class AuthRun {
 public:
  explicit AuthRun(const std::string& mode) : mode_(mode), folder_(make_temp_folder()) {
    if (mode_ == "jwt") {
      // 64 bytes of key, twice HS256's minimum of 32 (RFC 7518 3.2: at least the hash's size).
      write_file(folder_ + "/jwt.secret", random_hex(32) + "\n");
      write_file(folder_ + "/mint.py", mint_script);
      // An absolute path: the nodes of a cluster run have folders of their own.
      yaml_ = "auth: { mode: jwt, jwt: { secret_file: " + folder_ + "/jwt.secret } }\n";
    } else if (mode_ == "password") {
      password_ = random_hex(12);
      write_file(folder_ + "/password", password_ + "\n");
      std::string hash;
      const int code = ChatdProcess::run_command("--hash-password < " + folder_ + "/password", hash);
      while (!hash.empty() && (hash.back() == '\n' || hash.back() == '\r')) hash.pop_back();
      if (code != 0 || hash.rfind("$scrypt$", 0) != 0)
        throw std::runtime_error("chatd --hash-password failed: " + hash);
      // Only failed logins count against login_rate/login_burst, and every login here succeeds; widened
      // anyway so that the limiter can never be what the figure measures.
      yaml_ = "auth: { mode: password, password_hash: \"" + hash +
              "\", login_rate: 100000000, login_burst: 100000000 }\n";
    } else if (mode_ != "open") {
      throw std::runtime_error("unknown auth mode " + mode_);
    }
  }
  ~AuthRun() { remove_folder(folder_); }
  AuthRun(const AuthRun&) = delete;
  AuthRun& operator=(const AuthRun&) = delete;

  const std::string& mode() const { return mode_; }
  const std::string& folder() const { return folder_; }
  const std::string& yaml() const { return yaml_; }
  const std::string& password() const { return password_; }

  // jwt: `count` fresh tokens, sub PREFIX0, PREFIX1, ...; valid for an hour.
  std::vector<std::string> mint(const std::string& prefix, int count) const {
    const std::string command = "/usr/bin/python3 " + folder_ + "/mint.py " + folder_ + "/jwt.secret " +
                                prefix + " " + std::to_string(count) + " 3600";
    FILE* pipe = popen(command.c_str(), "r");
    if (!pipe) throw std::runtime_error("popen failed");
    std::string text;
    char buffer[65536];
    while (const std::size_t size = fread(buffer, 1, sizeof buffer, pipe)) text.append(buffer, size);
    if (pclose(pipe) != 0) throw std::runtime_error("minting tokens failed");
    std::vector<std::string> tokens;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) tokens.push_back(line);
    if (static_cast<int>(tokens.size()) != count) throw std::runtime_error("minted too few tokens");
    return tokens;
  }

 private:
  std::string mode_;
  std::string folder_;
  std::string yaml_;
  std::string password_;
};

// In jwt mode, that a connection without a token is refused (401 before the upgrade): the figures are of a
// server that checks.
void expect_refused_without_token(const AuthRun& run, std::uint16_t port) {
  if (run.mode() != "jwt") return;
  WsClient probe;
  if (const int status = probe.open(port, "/subscribe?room=bench-0&format=text"); status != 401)
    throw std::runtime_error("auth.mode jwt let a connection without a token in: HTTP " +
                             std::to_string(status));
}

// What a connection of user `name` presents: in jwt mode its token as `Authorization: Bearer`; in open mode
// nothing, and `?name=` gives the same name, so the events of both modes are the same size.
struct Presented {
  std::string query;  // appended to the target
  std::vector<std::string> headers;
};
Presented presented(const AuthRun& run, const std::vector<std::string>& tokens, std::size_t i,
                    const std::string& prefix) {
  if (run.mode() == "jwt") return {"", {"Authorization: Bearer " + tokens[i]}};
  return {"&name=" + prefix + std::to_string(i), {}};
}

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const std::size_t mid = values.size() / 2;
  return values.size() % 2 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

// The modes a run list alternates, open first: "both" gives open, jwt, open, jwt, ...
std::vector<std::string> schedule(const Options& o) {
  std::vector<std::string> modes;
  for (int run = 0; run < std::max(1, o.runs); ++run) {
    if (o.auth == "both") {
      modes.push_back("open");
      modes.push_back("jwt");
    } else {
      modes.push_back(o.auth);
    }
  }
  return modes;
}

struct RunResult {
  double rate = 0;         // deliveries or handshakes or logins per second
  double cost = 0;         // server CPU µs per delivery or handshake, ms per login (all chatd nodes)
  double other_share = 0;  // other work on the machine during the run, in cores (CPU seconds per second)
  bool ok = false;
  // fanout only
  double p50_ms = 0, p99_ms = 0;
  double publishes = 0;              // messages published per second, all rooms
  double redis_cost = 0;             // Redis CPU µs per delivery (cluster runs)
  double redis_publishes_per_s = 0;  // publishes per Redis CPU second: how far one Redis core carries
  double per_message = 0;            // chatd CPU µs per message published (all nodes)
  double rss_mib = 0;                // chatd's resident set at the end of the run (all nodes)
  double writer_share = 0;           // the SQLite writer threads' part of chatd's CPU, 0 to 1
};
using Results = std::map<std::string, std::vector<RunResult>>;

// A run during which other work took more than a tenth of a core on average shares the 2 cores with it:
// its figures say more about the neighbours than about chatd.
constexpr double disturbed_share = 0.1;

// Per mode, the medians of the runs' two figures, and jwt against open when both ran. With `quiet_only`,
// only the runs that were not disturbed.
void print_medians(const char* what, const char* rate_unit, const char* cost_unit, const Results& results,
                   bool quiet_only) {
  std::map<std::string, std::pair<double, double>> medians;
  const char* label = quiet_only ? "undisturbed runs" : "runs";
  for (const auto& [mode, runs] : results) {
    std::vector<double> rates, costs;
    std::string rate_list, cost_list;
    for (const RunResult& run : runs) {
      if (quiet_only && run.other_share > disturbed_share) continue;
      rates.push_back(run.rate);
      costs.push_back(run.cost);
      char text[32];
      std::snprintf(text, sizeof text, "%.*f", run.rate < 100 ? 2 : 0, run.rate);  // logins: a few a second
      rate_list += (rate_list.empty() ? "" : ", ") + std::string(text);
      std::snprintf(text, sizeof text, "%.3f", run.cost);
      cost_list += (cost_list.empty() ? "" : ", ") + std::string(text);
    }
    if (rates.empty()) {
      std::printf("%s %s: no %s\n", what, mode.c_str(), label);
      continue;
    }
    medians[mode] = {median(rates), median(costs)};
    std::printf("%s %s, %zu %s: %s median %.*f (%s); %s median %.3f (%s)\n", what, mode.c_str(), rates.size(),
                label, rate_unit, medians[mode].first < 100 ? 2 : 0, medians[mode].first, rate_list.c_str(),
                cost_unit, medians[mode].second, cost_list.c_str());
  }
  // Each variant against its base: jwt against open, and a cluster topology against one node of the same
  // auth mode ("open 2 nodes+redis" against "open").
  for (const auto& [key, figures] : medians) {
    const std::string base = key == "jwt" ? "open" : key.substr(0, key.find(' '));
    if (base == key || !medians.count(base)) continue;
    const auto& before = medians[base];
    std::printf("%s %s against %s (%s): %s %+.1f%%, %s %+.1f%%\n", what, key.c_str(), base.c_str(), label,
                rate_unit, 100.0 * (figures.first / before.first - 1), cost_unit,
                100.0 * (figures.second / before.second - 1));
  }
}

void print_summary(const char* what, const char* rate_unit, const char* cost_unit, const Results& results) {
  print_medians(what, rate_unit, cost_unit, results, false);
  bool disturbed = false;
  for (const auto& [mode, runs] : results)
    for (const RunResult& run : runs) disturbed = disturbed || run.other_share > disturbed_share;
  if (disturbed) print_medians(what, rate_unit, cost_unit, results, true);
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

// One keep-alive HTTP connection that POSTs /publish, one request at a time (no pipelining, as a script's
// client does), and checks that each answer is 202.
class HttpPublisher {
 public:
  explicit HttpPublisher(std::uint16_t port) : fd_(connect_loopback(port)) {}
  ~HttpPublisher() {
    if (fd_ >= 0) ::close(fd_);
  }
  HttpPublisher(HttpPublisher&& other) noexcept
      : fd_(std::exchange(other.fd_, -1)), busy_(other.busy_), input_(std::move(other.input_)) {}
  HttpPublisher& operator=(HttpPublisher&&) = delete;

  int fd() const { return fd_; }
  bool busy() const { return busy_; }
  std::size_t room() const { return room_; }  // the room of the request in flight
  void publish(std::size_t room, const std::string& text) {
    room_ = room;
    const std::string request = "POST /publish?room=bench-" + std::to_string(room) +
                                "&name=pub HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
                                "Content-Length: " +
                                std::to_string(text.size()) + "\r\n\r\n" + text;
    for (std::string_view rest = request; !rest.empty();) {
      const ssize_t sent = ::send(fd_, rest.data(), rest.size(), MSG_NOSIGNAL);
      if (sent <= 0) throw std::runtime_error("publish: send failed");
      rest.remove_prefix(static_cast<std::size_t>(sent));
    }
    busy_ = true;
  }
  // Reads the answer if it is complete: true for a 202, false for none yet; throws for anything else.
  bool read_answer() {
    char buffer[4096];
    for (;;) {
      const ssize_t size = ::recv(fd_, buffer, sizeof buffer, MSG_DONTWAIT);
      if (size > 0) {
        input_.append(buffer, static_cast<std::size_t>(size));
        continue;
      }
      if (size < 0 && (errno == EAGAIN || errno == EINTR)) break;
      throw std::runtime_error("publish: the server closed the connection");
    }
    const std::size_t head_end = input_.find("\r\n\r\n");
    if (head_end == std::string::npos) return false;
    const std::size_t length_at = input_.find("Content-Length: ");
    const std::size_t length = length_at < head_end ? std::stoul(input_.substr(length_at + 16)) : 0;
    if (input_.size() < head_end + 4 + length) return false;
    if (!input_.starts_with("HTTP/1.1 202"))
      throw std::runtime_error("publish: " + input_.substr(0, head_end));
    input_.erase(0, head_end + 4 + length);
    busy_ = false;
    return true;
  }

 private:
  int fd_;
  bool busy_ = false;
  std::size_t room_ = 0;
  std::string input_;
};

// One room of the fan-out: its publisher (one of its subscribers) and how far its messages have got.
struct RoomLoad {
  std::size_t publisher = 0;  // index into the clients
  int members = 0;
  int sent = 0;
  int echoed = 0;            // the publisher's own messages it has received back
  bool posting = false;      // --publisher http: a POST to it is unanswered
  int delivered_to_all = 0;  // messages every member has received
  std::vector<int> received_by;
};

// The cluster section of a node's config: the bench's Redis under a prefix of its own. node_ttl and
// unavailable_wait stay at their defaults: the run never waits on them.
std::string cluster_yaml(const RedisProcess& redis) {
  return "cluster: { engine: redis, redis: { address: \"127.0.0.1:" + std::to_string(redis.port()) +
         "\", prefix: bench } }\n";
}

RunResult fanout_once(const Options& o, const std::string& mode, const Topology& topology) {
  const AuthRun run(mode);
  std::optional<RedisProcess> redis;
  if (topology.redis) redis.emplace();
  std::vector<std::unique_ptr<ChatdProcess>> nodes;
  for (int n = 0; n < topology.nodes; ++n) {
    // Each node in a folder of its own (ChatdProcess makes one); the jwt secret file's path is absolute.
    nodes.push_back(std::make_unique<ChatdProcess>(config(o, run.yaml()) +
                                                   (redis ? cluster_yaml(*redis) : std::string())));
  }
  const std::vector<std::string> tokens = mode == "jwt" ? run.mint("u", o.subs) : std::vector<std::string>{};
  for (const auto& node : nodes) expect_refused_without_token(run, node->port());
  const bool json = o.format == "json";
  const std::size_t room_count = static_cast<std::size_t>(std::max(1, o.rooms));
  if (static_cast<std::size_t>(o.subs) < room_count) throw std::runtime_error("--subs must be >= --rooms");
  std::vector<RoomLoad> rooms(room_count);
  std::vector<WsClient> clients(static_cast<std::size_t>(o.subs));
  // --transport sse: every member but the room's publisher reads the room as an event stream (GET /events);
  // the publisher stays a WebSocket, which can send.
  const bool sse = o.transport == "sse";
  std::vector<EventStreamClient> streams(sse ? clients.size() : 0);
  const auto streamed = [&](std::size_t i) {
    return sse && (o.publisher == "http" || rooms[i % room_count].publisher != i);
  };
  for (std::size_t i = 0; i < clients.size(); ++i) {
    RoomLoad& room = rooms[i % room_count];
    // Client i is member i / room_count of its room, and member k connects to node k % nodes: the room's
    // publisher (its first member) is on node 0, and its other members are spread over every node.
    const ChatdProcess& node = *nodes[(i / room_count) % nodes.size()];
    if (room.members++ == 0) room.publisher = i;
    const Presented who = presented(run, tokens, i, "u");
    const std::string query =
        "?room=bench-" + std::to_string(i % room_count) + "&format=" + o.format + who.query;
    const int status = streamed(i) ? streams[i].open(node.port(), "/events" + query, who.headers)
                                   : clients[i].open(node.port(), "/subscribe" + query, who.headers);
    if (status != (streamed(i) ? 200 : 101))
      throw std::runtime_error("subscribing failed: HTTP " + std::to_string(status) + "\n" +
                               nodes[(i / room_count) % nodes.size()]->log());
  }
  for (auto& room : rooms) room.received_by.assign(static_cast<std::size_t>(o.msgs), 0);
  // --publisher http: the messages go out over keep-alive POST /publish connections to node 0, not from a
  // member of the room; every member only reads.
  const bool http = o.publisher == "http";
  std::vector<HttpPublisher> publishers;
  if (http) {
    for (int k = 0; k < std::max(1, o.http_publishers); ++k) publishers.emplace_back(nodes[0]->port());
  }
  long long acknowledged = 0;

  const int epoll = epoll_create1(EPOLL_CLOEXEC);
  for (std::size_t i = 0; i < clients.size(); ++i) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = i;
    epoll_ctl(epoll, EPOLL_CTL_ADD, streamed(i) ? streams[i].fd() : clients[i].fd(), &event);
  }
  for (std::size_t k = 0; k < publishers.size(); ++k) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = clients.size() + k;
    epoll_ctl(epoll, EPOLL_CTL_ADD, publishers[k].fd(), &event);
  }
  std::vector<int> next_seq(clients.size(), 0);
  // Closed loop (no --rate): each publisher keeps `window` of its own messages in flight (acknowledged by
  // their echo, as the shared harness does). Paced (--rate R): R messages a second in all, to the rooms in
  // turn, whatever the echoes. Either way no publisher runs more than `max_lead` ahead of its room's slowest
  // subscriber: this one-thread client must not fall behind and be closed as slow, which would measure the
  // client.
  constexpr int max_lead = 128;  // half of the benchmark's subscriber.queue
  std::vector<std::int64_t> latencies;
  latencies.reserve(static_cast<std::size_t>(o.subs) * static_cast<std::size_t>(o.msgs) / 10 + 16);
  long long deliveries = 0, errors = 0, closed = 0, sent = 0;
  const long long expected = static_cast<long long>(o.subs) * o.msgs;
  const long long to_send = static_cast<long long>(room_count) * o.msgs;
  std::size_t next_room = 0;  // paced: the room the next message goes to

  std::vector<pid_t> pids;
  for (const auto& node : nodes) pids.push_back(node->pid());
  if (redis) pids.push_back(redis->pid());
  CpuMeter meter{pids, {}, {}};
  meter.start();
  const auto start = Clock::now();
  auto last_progress = start;
  std::string scratch;
  std::vector<epoll_event> events(1024);
  // http: a connection with no request in flight, if there is one.
  const auto free_publisher = [&]() -> HttpPublisher* {
    for (auto& publisher : publishers) {
      if (!publisher.busy()) return &publisher;
    }
    return nullptr;
  };
  // http: one POST in flight per room, so that the room numbers its messages in the order they were sent
  // (two connections' requests may reach it in either order), as one script per room publishes.
  const auto can_send = [&](const RoomLoad& room) {
    return room.sent < o.msgs && room.sent - room.delivered_to_all < max_lead && !room.posting;
  };
  const auto answered = [&](HttpPublisher& publisher) {
    if (!publisher.read_answer()) return;
    ++acknowledged;
    rooms[publisher.room()].posting = false;
  };
  const auto send = [&](RoomLoad& room) {
    const std::string text = payload(room.sent, now_ns(), o.size);
    if (http) {
      free_publisher()->publish(static_cast<std::size_t>(&room - rooms.data()), text);
      room.posting = true;
    } else {
      clients[room.publisher].send_text(text);
    }
    ++room.sent;
    ++sent;
  };
  // To the rooms in turn while `more()`: a room that may not send now (max_lead, a POST in flight) is
  // passed over, not waited for.
  const auto send_in_turn = [&](const auto& more) {
    for (std::size_t tried = 0; tried < room_count && more();) {
      RoomLoad& room = rooms[next_room];
      next_room = (next_room + 1) % room_count;
      if (can_send(room)) {
        send(room);
        tried = 0;
      } else {
        ++tried;
      }
    }
  };
  while (deliveries + errors < expected) {
    if (o.rate > 0) {
      const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
      const long long due = std::min(to_send, static_cast<long long>(o.rate * elapsed) + 1);
      send_in_turn([&] { return sent < due && (!http || free_publisher()); });
    } else {
      if (http) {
        // Closed loop over HTTP: every free connection takes the next room's next message, in turn.
        send_in_turn([&] { return free_publisher() != nullptr; });
      } else {
        for (auto& room : rooms) {
          while (can_send(room) && room.sent - room.echoed < o.window) send(room);
        }
      }
    }
    const int ready = epoll_wait(epoll, events.data(), static_cast<int>(events.size()), o.rate > 0 ? 1 : 100);
    for (int e = 0; e < ready; ++e) {
      const std::size_t index = events[e].data.u64;
      if (index >= clients.size()) {
        answered(publishers[index - clients.size()]);
        continue;
      }
      WsClient& client = clients[index];
      RoomLoad& room = rooms[index % room_count];
      const bool is_stream = streamed(index);
      const bool open = is_stream ? streams[index].read_available() : client.read_available();
      if (!open) epoll_ctl(epoll, EPOLL_CTL_DEL, is_stream ? streams[index].fd() : client.fd(), nullptr);
      // An event read as a frame: a message as a text frame, `close` as a close frame, the rest skipped.
      const auto next = [&]() -> std::optional<Frame> {
        if (!is_stream) return client.pop_frame();
        auto event = streams[index].pop_event();
        if (!event) return std::nullopt;
        const std::uint8_t opcode = event->type == "message" ? 1 : event->type == "close" ? 8 : 0;
        return Frame{opcode, std::move(event->data)};
      };
      while (auto frame = next()) {
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
  meter.stop();
  // Every publish is answered 202 (the last answers may come after the last delivery).
  for (const auto waited = Clock::now(); acknowledged < sent && Clock::now() - waited < 5s;) {
    const int ready = epoll_wait(epoll, events.data(), static_cast<int>(events.size()), 10);
    for (int e = 0; e < ready; ++e) {
      const std::size_t index = events[e].data.u64;
      if (index >= clients.size()) answered(publishers[index - clients.size()]);
    }
  }
  double rss_mib = 0;
  for (const auto& node : nodes) rss_mib += static_cast<double>(rss_kib(node->pid())) / 1024;
  const double redis_s = redis ? meter.each_s.back() : 0;
  const double chatd_s = meter.server_s - redis_s;
  ::close(epoll);
  const auto lat = percentiles(latencies);
  const double per_delivery = 1e6 / static_cast<double>(std::max(1LL, deliveries));
  std::string pacing = "window " + std::to_string(o.window);
  if (o.rate > 0) pacing = "paced at " + std::to_string(o.rate) + " msg/s";
  std::printf(
      "fanout: %d subscribers in %zu room(s) x %d messages per room of %d B (%s, format=%s, %s, server "
      "threads %s, history %s, auth %s, %d node(s)%s)\n"
      "  deliveries %lld/%lld in %.3f s = %.0f deliveries/s; %.0f publishes/s\n"
      "  latency ms p50 %.2f p99 %.2f max %.2f\n"
      "  chatd CPU %.2f s = %.3f us per delivery, %.1f us per message (load client %.2f s, other work on the "
      "machine %.2f s)\n"
      "  chatd RSS %.1f MiB at the end\n",
      o.subs, room_count, o.msgs, o.size,
      sse    ? (http ? "SSE readers, HTTP publishers" : "SSE readers")
      : http ? "WebSocket readers, HTTP publishers"
             : "WebSocket",
      o.format.c_str(), pacing.c_str(), o.threads == 0 ? "one per core" : std::to_string(o.threads).c_str(),
      o.history.c_str(), mode.c_str(), topology.nodes, redis ? " on one redis-server" : "", deliveries,
      expected, seconds, deliveries / seconds, sent / seconds, lat.p50, lat.p99, lat.max, chatd_s,
      chatd_s * per_delivery, chatd_s * 1e6 / static_cast<double>(std::max(1LL, sent)), meter.client_s,
      meter.other_s, rss_mib);
  if (o.history == "sqlite" && !redis)
    std::printf("  of it the SQLite writer thread %.2f s = %.1f%%, %.1f us per message\n", meter.history_s,
                100 * meter.history_s / std::max(1e-9, chatd_s),
                meter.history_s * 1e6 / static_cast<double>(std::max(1LL, sent)));
  if (http)
    std::printf("  %lld messages POSTed on %zu keep-alive connections, %lld answered 202\n", sent,
                publishers.size(), acknowledged);
  if (nodes.size() > 1) {
    for (std::size_t n = 0; n < nodes.size(); ++n)
      std::printf("    node %zu: %.2f s = %.3f us per delivery\n", n, meter.each_s[n],
                  meter.each_s[n] * per_delivery);
  }
  if (redis) {
    std::printf(
        "  redis CPU %.2f s = %.3f us per delivery, %.1f us per publish = %.0f publishes per Redis CPU "
        "second\n",
        redis_s, redis_s * per_delivery, redis_s * 1e6 / static_cast<double>(std::max(1LL, sent)),
        static_cast<double>(sent) / std::max(1e-9, redis_s));
  }
  std::printf("  order errors %lld, closed by server %lld\n", errors, closed);
  const bool ok = deliveries == expected && errors == 0 && closed == 0 && (!http || acknowledged == sent);
  std::printf("  %s\n", ok ? "exactly once, in order: ok" : "CORRECTNESS FAILURE");
  for (auto& node : nodes) {
    node->stop();
    if (!ok) std::printf("server log:\n%s\n", node->log().c_str());
  }
  std::fflush(stdout);
  RunResult result{deliveries / seconds, chatd_s * per_delivery, meter.other_s / seconds, ok};
  result.p50_ms = lat.p50;
  result.p99_ms = lat.p99;
  result.publishes = sent / seconds;
  result.redis_cost = redis_s * per_delivery;
  result.redis_publishes_per_s = redis ? static_cast<double>(sent) / std::max(1e-9, redis_s) : 0;
  result.per_message = chatd_s * 1e6 / static_cast<double>(std::max(1LL, sent));
  result.rss_mib = rss_mib;
  result.writer_share = meter.history_s / std::max(1e-9, chatd_s);
  return result;
}

// Per auth mode and topology, the medians of what print_summary does not show: latency and Redis' share.
void print_fanout_medians(const Results& results) {
  for (const auto& [key, runs] : results) {
    std::vector<double> p50, p99, publishes, redis_cost, redis_rate, per_message, rss, writer_share;
    for (const RunResult& run : runs) {
      writer_share.push_back(run.writer_share);
      per_message.push_back(run.per_message);
      rss.push_back(run.rss_mib);
      p50.push_back(run.p50_ms);
      p99.push_back(run.p99_ms);
      publishes.push_back(run.publishes);
      redis_cost.push_back(run.redis_cost);
      redis_rate.push_back(run.redis_publishes_per_s);
    }
    std::printf(
        "fanout %s, %zu runs: latency ms median p50 %.2f p99 %.2f; publishes/s median %.0f; chatd CPU us per "
        "message median %.1f; RSS MiB median %.1f",
        key.c_str(), runs.size(), median(p50), median(p99), median(publishes), median(per_message),
        median(rss));
    if (median(writer_share) > 0)
      std::printf("; SQLite writer share median %.1f%%", 100 * median(writer_share));
    if (median(redis_rate) > 0)
      std::printf("; redis CPU us per delivery median %.3f, publishes per Redis CPU second median %.0f",
                  median(redis_cost), median(redis_rate));
    std::printf("\n");
  }
}

int fanout(const Options& o) {
  bool ok = true;
  Results results;
  for (const std::string& mode : schedule(o)) {
    for (const Topology& topology : topologies(o)) {
      const RunResult result = fanout_once(o, mode, topology);
      ok = ok && result.ok;
      results[mode + topology.suffix()].push_back(result);
    }
  }
  if (results.size() > 1 || o.runs > 1) {
    print_summary("fanout", "deliveries/s", "chatd CPU us per delivery", results);
    print_fanout_medians(results);
  }
  return ok ? 0 : 1;
}

// How many of `streams` receive a `message` event of `text` (format json) before `timeout`.
std::size_t receive_everywhere(std::vector<EventStreamClient>& streams, const std::string& text,
                               Millis timeout) {
  const int epoll = epoll_create1(EPOLL_CLOEXEC);
  for (std::size_t i = 0; i < streams.size(); ++i) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = i;
    epoll_ctl(epoll, EPOLL_CTL_ADD, streams[i].fd(), &event);
  }
  std::size_t received = 0;
  std::vector<epoll_event> events(1024);
  const auto deadline = Clock::now() + timeout;
  while (received < streams.size() && Clock::now() < deadline) {
    const int ready = epoll_wait(epoll, events.data(), static_cast<int>(events.size()), 100);
    for (int e = 0; e < ready; ++e) {
      EventStreamClient& stream = streams[events[e].data.u64];
      if (!stream.read_available()) epoll_ctl(epoll, EPOLL_CTL_DEL, stream.fd(), nullptr);
      while (auto event = stream.pop_event()) {
        if (event->type == "message" && json_string(event->data, "text") == text) {
          ++received;
          epoll_ctl(epoll, EPOLL_CTL_DEL, stream.fd(), nullptr);
        }
      }
    }
  }
  ::close(epoll);
  return received;
}

// In jwt mode every connection presents a token of its own, and the message is published with one.
RunResult connections_once(const Options& o, const std::string& mode) {
  const AuthRun run(mode);
  ChatdProcess server(config(o, run.yaml()), run.folder());
  const std::vector<std::string> tokens =
      mode == "jwt" ? run.mint("u", o.idle + 1) : std::vector<std::string>{};
  expect_refused_without_token(run, server.port());
  std::this_thread::sleep_for(200ms);
  const long rss_before = rss_kib(server.pid());
  // --transport sse: idle event streams (GET /events) instead of WebSockets.
  const bool sse = o.transport == "sse";
  std::vector<WsClient> clients(sse ? 0 : static_cast<std::size_t>(o.idle));
  std::vector<EventStreamClient> streams(sse ? static_cast<std::size_t>(o.idle) : 0);
  const auto start = Clock::now();
  for (std::size_t i = 0; i < static_cast<std::size_t>(o.idle); ++i) {
    // Open mode as before issue 11 (no name given): the figure stays comparable with the earlier ones.
    const std::vector<std::string> headers =
        mode == "jwt" ? std::vector<std::string>{"Authorization: Bearer " + tokens[i]}
                      : std::vector<std::string>{};
    if (sse ? streams[i].open(server.port(), "/events?room=idle", headers) != 200
            : clients[i].open(server.port(), "/subscribe?room=idle", headers) != 101)
      throw std::runtime_error("subscribing failed");
  }
  const double connect_s = std::chrono::duration<double>(Clock::now() - start).count();
  std::this_thread::sleep_for(1s);
  const long rss_after = rss_kib(server.pid());

  // Every connection is still served: one message reaches all of them.
  const std::string text = "still there?";
  const std::string authorization =
      mode == "jwt" ? "Authorization: Bearer " + tokens[static_cast<std::size_t>(o.idle)] + "\r\n" : "";
  const auto published =
      http_exchange(server.port(),
                    "POST /publish?room=idle HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    "Connection: close\r\nContent-Type: text/plain\r\n" +
                        authorization + "Content-Length: " + std::to_string(text.size()) + "\r\n\r\n" + text);
  std::size_t received = 0;
  if (sse) {
    received = receive_everywhere(streams, text, 30s);
  } else {
    pump(
        clients, 30s, [&](std::size_t, Frame& frame) { received += frame.opcode == 1; },
        [&] { return received == clients.size(); });
  }
  const double per_connection = static_cast<double>(rss_after - rss_before) / o.idle;
  std::printf(
      "connections: %d idle %s (auth %s), opened in %.2f s\n"
      "  server RSS %ld KiB before, %ld KiB after = %.2f KiB per connection\n"
      "  a message published to all of them: HTTP %d, received by %zu/%d\n",
      o.idle, sse ? "event streams" : "WebSocket connections", mode.c_str(), connect_s, rss_before, rss_after,
      per_connection, published.status, received, o.idle);
  server.stop();
  const bool ok = published.status == 202 && received == static_cast<std::size_t>(o.idle);
  std::printf("  %s\n", ok ? "every connection served: ok" : "CORRECTNESS FAILURE");
  std::fflush(stdout);
  return {o.idle / connect_s, per_connection, 0, ok};
}

int connections(const Options& o) {
  bool ok = true;
  Results results;
  for (const std::string& mode : schedule(o)) {
    const RunResult result = connections_once(o, mode);
    ok = ok && result.ok;
    results[mode].push_back(result);
  }
  if (o.runs > 1 || o.auth == "both")
    print_medians("connections", "connections opened/s", "KiB per idle connection", results, false);
  return ok ? 0 : 1;
}

// Runs `work(i)` for i < count on `concurrency` threads, each taking the next i when done with its last.
// The first exception a thread meets is rethrown here, after every thread is joined.
void run_parallel(int count, int concurrency, const std::function<void(int)>& work) {
  std::atomic<int> next{0};
  std::mutex mutex;
  std::exception_ptr failure;
  std::vector<std::thread> threads;
  for (int t = 0; t < std::max(1, concurrency); ++t) {
    threads.emplace_back([&] {
      try {
        for (int i; (i = next.fetch_add(1)) < count;) work(i);
      } catch (...) {
        const std::lock_guard lock(mutex);
        if (!failure) failure = std::current_exception();
        next = count;  // the others stop too
      }
    });
  }
  for (auto& thread : threads) thread.join();
  if (failure) std::rethrow_exception(failure);
}

// N WebSocket connections, `concurrency` at a time, each on its own: connect, upgrade (101), close 1000 and
// wait for the server's close frame. In jwt mode every connection presents a token of its own, all minted
// before the clock starts, so the client's minting is not in the figure.
RunResult handshakes_once(const Options& o, const std::string& mode) {
  const AuthRun run(mode);
  ChatdProcess server(config(o, run.yaml()), run.folder());
  const std::vector<std::string> tokens = mode == "jwt" ? run.mint("h", o.conns) : std::vector<std::string>{};
  expect_refused_without_token(run, server.port());
  std::atomic<long long> refused{0}, unclean{0};
  std::mutex mutex;
  std::vector<std::int64_t> latencies;
  latencies.reserve(static_cast<std::size_t>(o.conns));
  CpuMeter meter{{server.pid()}, {}, {}};
  meter.start();
  const auto start = Clock::now();
  run_parallel(o.conns, o.concurrency, [&](int i) {
    const Presented who = presented(run, tokens, static_cast<std::size_t>(i), "h");
    WsClient client;
    const std::int64_t begin = now_ns();
    const int status =
        client.open(server.port(), "/subscribe?room=bench-hs&format=text" + who.query, who.headers);
    const std::int64_t took = now_ns() - begin;
    {
      const std::lock_guard lock(mutex);
      latencies.push_back(took);
    }
    if (status != 101) {
      ++refused;
      return;
    }
    client.send_close(1000);
    if (client.wait_close(5s) != 1000) ++unclean;
  });
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  meter.stop();
  const double cpu = meter.server_s;
  const auto lat = percentiles(latencies);
  std::printf(
      "handshakes: %d WebSocket connections, %d at a time (auth %s, server threads %s): connect, 101, close "
      "1000\n"
      "  %.3f s = %.0f handshakes/s\n"
      "  upgrade latency ms p50 %.3f p99 %.3f max %.3f\n"
      "  server CPU %.2f s = %.1f us per handshake (load client %.2f s, other work on the machine %.2f s)\n"
      "  refused %lld, without a clean close %lld\n",
      o.conns, o.concurrency, mode.c_str(),
      o.threads == 0 ? "one per core" : std::to_string(o.threads).c_str(), seconds, o.conns / seconds,
      lat.p50, lat.p99, lat.max, cpu, cpu * 1e6 / o.conns, meter.client_s, meter.other_s, refused.load(),
      unclean.load());
  server.stop();
  const bool ok = refused == 0 && unclean == 0;
  std::printf("  %s\n", ok ? "every handshake accepted and closed cleanly: ok" : "CORRECTNESS FAILURE");
  if (!ok) std::printf("server log:\n%s\n", server.log().c_str());
  std::fflush(stdout);
  return {o.conns / seconds, cpu * 1e6 / o.conns, meter.other_s / seconds, ok};
}

int handshakes(const Options& o) {
  bool ok = true;
  Results results;
  for (const std::string& mode : schedule(o)) {
    const RunResult result = handshakes_once(o, mode);
    ok = ok && result.ok;
    results[mode].push_back(result);
  }
  if (o.runs > 1 || o.auth == "both")
    print_summary("handshakes", "handshakes/s", "server CPU us per handshake", results);
  return ok ? 0 : 1;
}

// auth.mode password: N POST /login with the right password, `concurrency` at a time, each a new name and a
// new connection. Each login is one scrypt check (chatd --hash-password's parameters) on chatd's auth thread
// and a session row saved to the store; then one of the tokens is checked to work.
RunResult logins_once(const Options& o) {
  const AuthRun run("password");
  ChatdProcess server(config(o, run.yaml()), run.folder());
  std::atomic<long long> failed{0};
  std::mutex mutex;
  std::vector<std::int64_t> latencies;
  std::string some_token;
  CpuMeter meter{{server.pid()}, {}, {}};
  meter.start();
  const auto start = Clock::now();
  run_parallel(o.logins, o.concurrency, [&](int i) {
    const std::string name = "l" + std::to_string(i);
    const std::string body = "{\"name\":\"" + name + "\",\"password\":\"" + run.password() + "\"}";
    const std::int64_t begin = now_ns();
    // Generous: logins wait in line for the one auth thread.
    const HttpResult answer = http_post(server.port(), "/login", body, "application/json", 120s);
    const std::int64_t took = now_ns() - begin;
    const std::lock_guard lock(mutex);
    latencies.push_back(took);
    if (answer.status != 200 || json_string(answer.body, "name") != name) {
      ++failed;
    } else if (some_token.empty()) {
      some_token = json_string(answer.body, "token");
    }
  });
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  meter.stop();
  const double cpu = meter.server_s;
  const HttpResult who = http_exchange(
      server.port(), "GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAuthorization: Bearer " +
                         some_token + "\r\n\r\n");
  const bool token_works = who.status == 200 && json_string(who.body, "mode") == "password";
  const auto lat = percentiles(latencies);
  std::printf(
      "logins: %d POST /login, %d at a time (auth password, server threads %s, history %s)\n"
      "  %.3f s = %.2f logins/s\n"
      "  login latency ms p50 %.1f p99 %.1f max %.1f\n"
      "  server CPU %.2f s = %.1f ms per login (load client %.2f s, other work on the machine %.2f s)\n"
      "  failed %lld; a token checked with GET /login: HTTP %d\n",
      o.logins, o.concurrency, o.threads == 0 ? "one per core" : std::to_string(o.threads).c_str(),
      o.history.c_str(), seconds, o.logins / seconds, lat.p50, lat.p99, lat.max, cpu, cpu * 1e3 / o.logins,
      meter.client_s, meter.other_s, failed.load(), who.status);
  server.stop();
  const bool ok = failed == 0 && token_works;
  std::printf("  %s\n", ok ? "every login accepted, its token works: ok" : "CORRECTNESS FAILURE");
  if (!ok) std::printf("server log:\n%s\n", server.log().c_str());
  std::fflush(stdout);
  return {o.logins / seconds, cpu * 1e3 / o.logins, meter.other_s / seconds, ok};
}

int logins(const Options& o) {
  bool ok = true;
  Results results;
  for (int run = 0; run < std::max(1, o.runs); ++run) {
    const RunResult result = logins_once(o);
    ok = ok && result.ok;
    results["password"].push_back(result);
  }
  if (o.runs > 1) print_summary("logins", "logins/s", "server CPU ms per login", results);
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
    if (options.scenario == "handshakes") return handshakes(options);
    if (options.scenario == "logins") return logins(options);
    std::cerr << "unknown scenario " << options.scenario << "\n";
    return 2;
  } catch (const std::exception& error) {
    std::cerr << "bench: " << error.what() << "\n";
    return 1;
  }
}
