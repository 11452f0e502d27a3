#include "server/app/server.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <sstream>
#include <thread>

#include <asio/post.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>

#include "server/cluster/redis_engine.hpp"
#include "server/core/log.hpp"
#include "server/core/thread_name.hpp"
#include "server/http/http_connection.hpp"
#include "server/metrics/metrics.hpp"
#include "server/store/session_store.hpp"
#include "server/transport/event_stream_session.hpp"

namespace chatd {

namespace {

// After SIGTERM, sessions get this long to finish their close handshakes before the process exits.
constexpr auto shutdown_grace = std::chrono::milliseconds(1500);

std::chrono::milliseconds tick_for(const config::Subscriber& settings) {
  using std::chrono::milliseconds;
  const auto shortest = std::min(settings.write_timeout, settings.ping_interval);
  return std::clamp(std::chrono::duration_cast<milliseconds>(shortest / 4), milliseconds(10),
                    milliseconds(250));
}

unsigned thread_count(unsigned configured) {
  if (configured > 0) return configured;
  return std::max(1u, std::thread::hardware_concurrency());
}

// Every connection is a file descriptor: use all the process may have.
void raise_open_file_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == limit.rlim_max) return;
  limit.rlim_cur = limit.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) log::warn("could not raise the open-file limit");
}

// File descriptors chatd needs besides its client connections: the listening socket, the database and its
// journal, the log, and each worker's epoll, eventfd and timerfd (Asio's epoll reactor), with room to spare.
std::size_t reserved_descriptors(std::size_t threads) {
  return 64 + 4 * threads;
}

// limits.max_connections, lowered to what the open-file limit leaves: a connection refused by count is
// closed at once, while one that finds no descriptor makes accept() fail and the listener back off for
// everyone (listener.cpp).
std::size_t connection_bound(const config::Limits& limits, std::size_t threads) {
  raise_open_file_limit();
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return limits.max_connections;
  const std::size_t reserved = reserved_descriptors(threads);
  const std::size_t available = limit.rlim_cur > reserved ? limit.rlim_cur - reserved : 1;
  if (available < limits.max_connections) {
    log::warn("limits.max_connections ", limits.max_connections, " lowered to ", available,
              " by the open-file limit (ulimit -n ", limit.rlim_cur, ")");
    return available;
  }
  return limits.max_connections;
}

ConnectionLimiter::Address address_key(const asio::ip::address& address) {
  if (address.is_v6()) return address.to_v6().to_bytes();
  return asio::ip::make_address_v6(asio::ip::v4_mapped, address.to_v4()).to_bytes();
}

// How often idle rooms are looked for: a room is reclaimed between idle_timeout and 1.25 x idle_timeout
// after its last use.
std::chrono::steady_clock::duration sweep_interval(const config::Rooms& settings) {
  using std::chrono::milliseconds;
  const auto quarter = std::chrono::duration_cast<milliseconds>(settings.idle_timeout / 4);
  return std::clamp(quarter, milliseconds(50), milliseconds(10000));
}

// On the control thread: reclaims idle rooms (RoomRegistry::reclaim_idle) until the timer is cancelled.
void schedule_sweep(asio::steady_timer& timer, RoomRegistry& rooms,
                    std::chrono::steady_clock::duration every) {
  timer.expires_after(every);
  timer.async_wait([&timer, &rooms, every](asio::error_code ec) {
    if (ec) return;
    if (const auto reclaimed = rooms.reclaim_idle(std::chrono::steady_clock::now()); reclaimed > 0)
      log::debug("reclaiming ", reclaimed, " idle room(s)");
    schedule_sweep(timer, rooms, every);
  });
}

std::optional<DatabaseLock> lock_database(const config::History& settings) {
  if (settings.store != config::History::Store::sqlite) return std::nullopt;
  return std::optional<DatabaseLock>(std::in_place, settings.path);
}

std::unique_ptr<Listener> bind_listener(Worker& worker, const config::Listen& settings) {
  const asio::ip::tcp::endpoint endpoint(asio::ip::make_address(settings.address), settings.port);
  return std::make_unique<Listener>(worker.context(), endpoint);
}

// The admin listener's connections at once: a scraper, a probe, an operator's curl. It has bounds of its
// own, so a flood on the public port cannot lock the operator out, and no flood here reaches the public one.
constexpr std::size_t admin_connection_bound = 64;

// A port in use is a config error pointing at admin.listen, not an exception with no place in the file.
std::unique_ptr<Listener> bind_admin_listener(Worker& worker, const config::Admin& admin) {
  try {
    return bind_listener(worker, admin.listen);
  } catch (const std::system_error& error) {
    const auto& at = admin.written;
    throw config::ConfigError(at.file, "admin.listen", at.line, at.column,
                              "cannot listen on " + admin.listen.address + ":" +
                                  std::to_string(admin.listen.port) + ": " + error.code().message() +
                                  " (another chatd on this host? give each its own admin.listen, or \"\" for "
                                  "none)");
  }
}

// The URL a person opens: an IPv6 address in brackets; the wildcard addresses are not a place to go to.
std::string page_url(const asio::ip::tcp::endpoint& endpoint, const std::string& prefix) {
  const auto address = endpoint.address();
  std::string host = address.is_unspecified() ? (address.is_v6() ? "[::1]" : "127.0.0.1")
                     : address.is_v6()        ? "[" + address.to_string() + "]"
                                              : address.to_string();
  return "http://" + host + ":" + std::to_string(endpoint.port()) + prefix;
}

// cluster.engine redis: connected before the configured rooms are loaded from Redis.
std::unique_ptr<cluster::ClusterNode> join_cluster(const config::Config& config) {
  if (config.cluster.engine != config::Cluster::Engine::redis) return nullptr;
  auto node = std::make_unique<cluster::ClusterNode>(config.cluster, config.history);
  const auto wait =
      std::max<std::chrono::steady_clock::duration>(std::chrono::seconds(5), config.cluster.unavailable_wait);
  if (!node->start(wait)) {
    throw EngineUnavailable("cannot reach Redis at " + config.cluster.redis.host + ":" +
                            std::to_string(config.cluster.redis.port) + " (cluster.redis.address) within " +
                            std::to_string(std::chrono::duration_cast<std::chrono::seconds>(wait).count()) +
                            " s: " + node->degraded());
  }
  return node;
}

std::unique_ptr<EngineFactory> engines_for(cluster::ClusterNode* node, HistoryStore& store,
                                           const config::History& history) {
  if (node) return std::make_unique<cluster::RedisEngineFactory>(*node);
  return std::make_unique<LocalEngineFactory>(store, history);
}

// The same services, another route table.
ServerContext with_router(const ServerContext& base, const Router& router) {
  return ServerContext{base.config,
                       base.workers,
                       base.rooms,
                       base.http_limiter,
                       base.handshake_limiter,
                       base.room_creation_limiter,
                       base.login_limiter,
                       base.auth,
                       base.auth_executor,
                       base.static_files,
                       router,
                       base.degraded,
                       base.levels};
}

}  // namespace

Server::Server(config::Config config)
    : config_(std::move(config)),
      database_lock_(lock_database(config_.history)),
      connections_(connection_bound(config_.limits, thread_count(config_.server.threads)),
                   config_.limits.max_connections_per_ip),
      admin_connections_(admin_connection_bound, admin_connection_bound),
      workers_(thread_count(config_.server.threads), tick_for(config_.subscriber)),
      listener_(bind_listener(workers_.at(0), config_.listen)),
      admin_listener_(config_.admin.enabled ? bind_admin_listener(workers_.at(0), config_.admin) : nullptr),
      store_(open_history_store(config_.history)),
      cluster_(join_cluster(config_)),
      engines_(engines_for(cluster_.get(), *store_, config_.history)),
      rooms_(config_.rooms, config_.history, config_.limits, *engines_, workers_),
      auth_(std::make_unique<Authenticator>(config_.auth, open_session_store(config_.history),
                                            std::chrono::system_clock::now())),
      http_limiter_(config_.publish.rate, config_.publish.burst),
      handshake_limiter_(config_.limits.handshake_rate, config_.limits.handshake_burst),
      room_creation_limiter_(config_.rooms.create_rate, config_.rooms.create_burst),
      login_limiter_(config_.auth.login_rate, config_.auth.login_burst),
      static_files_(config_.static_files.root, config_.routes.static_files),
      router_(config_.routes),
      context_{config_,
               workers_,
               rooms_,
               http_limiter_,
               handshake_limiter_,
               room_creation_limiter_,
               login_limiter_,
               *auth_,
               auth_threads_.get_executor(),
               static_files_,
               router_,
               [this] { return cluster_ ? cluster_->degraded() : std::string(); },
               [this] { return levels(); }},
      admin_router_(Router::admin()),
      admin_context_(with_router(context_, admin_router_)) {
  log::set_level(config_.log.level);
  asio::post(auth_threads_, [] { name_this_thread("auth"); });
}

Server::~Server() = default;

Levels Server::levels() {
  Levels now;
  now.connections_open = connections_.open();
  now.sessions = workers_.session_count();
  now.event_streams = EventStreamSession::open_count();
  now.rooms = rooms_.size();
  now.history_pending_events = store_->pending_events();
  now.history_failure = store_->failure();
  if (cluster_) {
    const auto links = cluster_->links();
    now.clustered = true;
    now.redis_command_up = links.command_up;
    now.redis_subscriber_up = links.subscriber_up;
    now.redis_round_trip_seconds = std::chrono::duration<double>(links.round_trip).count();
  }
  return now;
}

void Server::start_admin() {
  if (!admin_listener_) return;
  admin_listener_->start(
      workers_,
      [this](asio::ip::tcp::socket& socket, Worker& worker) -> std::optional<asio::awaitable<void>> {
        asio::error_code ec;
        const auto remote = socket.remote_endpoint(ec);
        if (ec) return std::nullopt;
        auto slot = admin_connections_.try_admit(address_key(remote.address()));
        if (!slot) return std::nullopt;
        auto held = std::make_shared<ConnectionLimiter::Slot>(std::move(slot));
        return serve_http(std::move(socket), worker, admin_context_, std::move(held));
      });
}

int Server::run() {
  std::signal(SIGPIPE, SIG_IGN);
  asio::io_context control(1);
  asio::signal_set signals(control, SIGINT, SIGTERM);
  asio::steady_timer sweep(control);
  signals.async_wait([&sweep](asio::error_code, int signal) {
    log::info("received ", signal == SIGINT ? "SIGINT" : "SIGTERM", ": shutting down");
    sweep.cancel();  // so that control.run() returns
  });
  if (config_.rooms.dynamic) schedule_sweep(sweep, rooms_, sweep_interval(config_.rooms));

  workers_.start();
  // Listener thread: counted before anything is read or allocated for the connection.
  listener_->start(
      workers_,
      [this](asio::ip::tcp::socket& socket, Worker& worker) -> std::optional<asio::awaitable<void>> {
        asio::error_code ec;
        const auto remote = socket.remote_endpoint(ec);
        if (ec) return std::nullopt;  // gone already
        auto slot = connections_.try_admit(address_key(remote.address()));
        if (!slot) {
          metrics::add(metrics::Series::http_connections_refused);
          log::debug("connection refused: over limits.max_connections or max_connections_per_ip, from ",
                     remote.address().to_string());
          return std::nullopt;
        }
        // The place is held by serve_http's frame, then by the WebSocket session an upgrade makes (which
        // outlives serve_http): given back however the connection ends, on the worker where it ends.
        metrics::add(metrics::Series::http_connections_accepted);
        auto held = std::make_shared<ConnectionLimiter::Slot>(std::move(slot));
        return serve_http(std::move(socket), worker, context_, std::move(held));
      });
  start_admin();
  log_start();
  control.run();  // returns once the signal handler has run
  shut_down();
  return 0;
}

void Server::log_start() const {
  const auto endpoint = listener_->local_endpoint();
  // Always printed, whatever log.level says: with port 0 it is the only way to learn the port.
  std::ostringstream started;
  started << "listening on " << endpoint.address().to_string() << ":" << endpoint.port() << " with "
          << workers_.size() << " thread" << (workers_.size() == 1 ? "" : "s");
  log::write(log::Level::info, started.view());
  if (admin_listener_) {
    // Always printed too: with port 0, how a test or a script finds the admin port.
    const auto admin = admin_listener_->local_endpoint();
    started.str("");
    started << "admin listening on " << admin.address().to_string() << ":" << admin.port()
            << " (GET /metrics, /readyz)";
    log::write(log::Level::info, started.view());
  }
  started.str("");
  if (static_files_.root().empty()) {
    started << "chat page: none (static.root is empty)";
  } else {
    started << "chat page: " << page_url(endpoint, config_.routes.static_files)
            << "; static files: " << static_files_.root().string();
  }
  started << "; history: ";
  if (cluster_)
    started << "redis " << config_.cluster.redis.host << ":" << config_.cluster.redis.port << " (prefix "
            << config_.cluster.redis.prefix << ", node " << cluster_->node_id() << ")";
  else if (config_.history.store == config::History::Store::sqlite)
    started << "sqlite " << std::filesystem::absolute(config_.history.path).lexically_normal().string();
  else
    started << "memory only (nothing survives a restart)";
  log::write(log::Level::info, started.view());
}

void Server::shut_down() {
  listener_->stop();
  if (admin_listener_) admin_listener_->stop();
  for (std::size_t i = 0; i < workers_.size(); ++i) workers_.at(i).close_sessions_going_away();
  const auto deadline = std::chrono::steady_clock::now() + shutdown_grace;
  while (workers_.session_count() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (const auto left = workers_.session_count(); left > 0) {
    log::warn(left, " WebSocket session(s) did not finish closing in time");
  }
  // This node's users leave every room now, on every node, rather than once node_ttl has passed.
  if (cluster_) cluster_->stop();
  rooms_.stop_all(std::chrono::steady_clock::now() + std::chrono::milliseconds(200));
  auth_threads_.join();  // a login in progress finishes its check; its answer goes nowhere
  workers_.stop();
  workers_.join();
  rooms_.release_all_after_stop();
  store_->close();  // commits what the rooms appended last
  log::info("stopped");
}

}  // namespace chatd
