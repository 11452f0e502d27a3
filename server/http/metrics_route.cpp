// GET /metrics on the admin listener: every counter of server/metrics summed over the threads, the levels
// the server reads from their owners at this moment, and the process' own figures, in the Prometheus text
// format. The standard process_* names are the ones client libraries export (prometheus.io/docs/
// instrumenting/writing_clientlibs, process metrics), so existing dashboards work.
#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>

#include "protocol/prometheus_text.hpp"
#include "server/http/routes.hpp"
#include "server/metrics/metrics.hpp"

namespace chatd {

namespace prom = protocol::prometheus;

namespace {

void counters(std::string& out) {
  const auto totals = metrics::totals();
  std::string_view family;
  std::uint64_t histogram_count = 0, cumulative = 0;
  for (const auto& info : metrics::series_table) {
    const auto value = totals[static_cast<std::size_t>(info.series)];
    if (info.family != family) {
      family = info.family;
      const bool histogram = info.type != metrics::Type::counter;
      prom::family(out, family, histogram ? "histogram" : "counter", info.help);
      histogram_count = cumulative = 0;
    }
    const std::string name(info.family);
    switch (info.type) {
      case metrics::Type::counter:
        prom::sample(out, name, info.label, info.value, value);
        break;
      case metrics::Type::histogram_bucket:
        cumulative += value;  // counted alone per bucket; the format's buckets are cumulative
        histogram_count = cumulative;
        prom::sample(out, name + "_bucket", info.label, info.value, cumulative);
        break;
      case metrics::Type::histogram_sum:
        prom::sample(out, name + "_sum", "", "", static_cast<double>(value) / 1e6);  // microseconds
        prom::sample(out, name + "_count", "", "", histogram_count);
        break;
    }
  }
}

void levels(std::string& out, const Levels& now) {
  prom::family(
      out, "chatd_connections_open", "gauge",
      "Client connections open on the public listener, by transport (http: not upgraded, not a stream).");
  // Each read once: the three levels are read at slightly different moments, and must not go negative.
  const std::size_t sessions = std::min(now.connections_open, now.sessions);
  const std::size_t streams = std::min(sessions, now.event_streams);
  prom::sample(out, "chatd_connections_open", "transport", "http",
               static_cast<std::uint64_t>(now.connections_open - sessions));
  prom::sample(out, "chatd_connections_open", "transport", "websocket",
               static_cast<std::uint64_t>(sessions - streams));
  prom::sample(out, "chatd_connections_open", "transport", "sse", static_cast<std::uint64_t>(streams));
  prom::family(out, "chatd_rooms", "gauge", "Live rooms (rooms.max bounds them).");
  prom::sample(out, "chatd_rooms", "", "", static_cast<std::uint64_t>(now.rooms));
  prom::family(out, "chatd_history_pending_events", "gauge",
               "Events appended to the SQLite history and not committed yet.");
  prom::sample(out, "chatd_history_pending_events", "", "",
               static_cast<std::uint64_t>(now.history_pending_events));
  if (!now.clustered) return;
  prom::family(out, "chatd_redis_link_up", "gauge",
               "1 while the connection to Redis is up and set up, by link: command, subscriber.");
  prom::sample(out, "chatd_redis_link_up", "link", "command", std::uint64_t{now.redis_command_up});
  prom::sample(out, "chatd_redis_link_up", "link", "subscriber", std::uint64_t{now.redis_subscriber_up});
  if (now.redis_round_trip_seconds < 0) return;
  prom::family(out, "chatd_redis_round_trip_seconds", "gauge",
               "The last probe's round trip: PUBLISH on the command link until it arrives on the subscriber "
               "link (every second).");
  prom::sample(out, "chatd_redis_round_trip_seconds", "", "", now.redis_round_trip_seconds);
}

// /proc/self/stat's fields after the command name: utime (14), stime (15), starttime (22), vsize (23), rss
// (24), numbered from 1 as proc(5) does.
void process(std::string& out) {
  std::ifstream stat_file("/proc/self/stat");
  const std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
  const auto after_name = stat.rfind(')');
  if (after_name == std::string::npos) return;
  std::istringstream fields(stat.substr(after_name + 2));
  double utime = 0, stime = 0, starttime = 0, vsize = 0, rss = 0;
  std::string field;
  for (int number = 3; fields >> field && number <= 24; ++number) {
    if (number == 14) utime = std::stod(field);
    if (number == 15) stime = std::stod(field);
    if (number == 22) starttime = std::stod(field);
    if (number == 23) vsize = std::stod(field);
    if (number == 24) rss = std::stod(field);
  }
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  double boot_time = 0;
  std::ifstream proc_stat("/proc/stat");
  for (std::string line; std::getline(proc_stat, line);) {
    if (line.rfind("btime ", 0) == 0) boot_time = std::stod(line.substr(6));
  }
  std::size_t open_fds = 0;
  if (DIR* fds = opendir("/proc/self/fd")) {
    while (const dirent* entry = readdir(fds)) open_fds += entry->d_name[0] != '.';
    closedir(fds);
    --open_fds;  // the directory's own descriptor
  }
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  prom::family(out, "process_cpu_seconds_total", "counter", "User and system CPU time spent, in seconds.");
  prom::sample(out, "process_cpu_seconds_total", "", "", (utime + stime) / ticks);
  prom::family(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
  prom::sample(out, "process_resident_memory_bytes", "", "", rss * page);
  prom::family(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
  prom::sample(out, "process_virtual_memory_bytes", "", "", vsize);
  prom::family(out, "process_open_fds", "gauge", "Open file descriptors.");
  prom::sample(out, "process_open_fds", "", "", static_cast<std::uint64_t>(open_fds));
  prom::family(out, "process_max_fds", "gauge", "The open-file limit (RLIMIT_NOFILE).");
  prom::sample(out, "process_max_fds", "", "", static_cast<double>(limit.rlim_cur));
  prom::family(out, "process_start_time_seconds", "gauge",
               "Start time of the process since the Unix epoch, in seconds.");
  prom::sample(out, "process_start_time_seconds", "", "", boot_time + starttime / ticks);
}

}  // namespace

asio::awaitable<Outcome> metrics_route(Request& request) {
  Outcome outcome;
  std::string& out = outcome.response.body;
  out.reserve(16 * 1024);
  counters(out);
  if (request.context.levels) levels(out, request.context.levels());
  process(out);
  outcome.response.content_type = std::string(prom::content_type);
  outcome.response.headers.emplace_back("Cache-Control", "no-store");
  co_return outcome;
}

}  // namespace chatd
