// Unit tests of the pure server helpers: the token bucket (server/token_bucket.hpp), the per-address
// publish limiter (server/address_limiter.hpp) and static file resolution (server/static_files.hpp).
// Time is a fake steady_clock time_point advanced by hand; files live in a temp folder.
#include <doctest/doctest.h>

#include <unistd.h>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <asio/post.hpp>

#include "server/limits/address_limiter.hpp"
#include "server/rooms/outbound_queue.hpp"
#include "server/http/static_files.hpp"
#include "server/limits/token_bucket.hpp"
#include "server/core/worker_pool.hpp"

using namespace std::chrono_literals;
using chatd::AddressLimiter;
using chatd::StaticFiles;
using chatd::TokenBucket;

namespace fs = std::filesystem;

namespace {

using Clock = TokenBucket::Clock;
using std::chrono::duration_cast;
using std::chrono::nanoseconds;

// An arbitrary fixed start: the tests never look at the real clock.
const Clock::time_point t0 = Clock::time_point{} + 1000h;

long long ns(Clock::duration d) {
  return duration_cast<nanoseconds>(d).count();
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// TokenBucket

TEST_CASE("TokenBucket: a full burst, then refusal with the exact wait") {
  TokenBucket bucket(2.0, 3.0, t0);  // 2 tokens/s, 3 banked
  CHECK(bucket.full(t0));
  CHECK(ns(bucket.try_take(t0)) == 0);
  CHECK_FALSE(bucket.full(t0));
  CHECK(ns(bucket.try_take(t0)) == 0);
  CHECK(ns(bucket.try_take(t0)) == 0);
  // Empty: one token takes 1/rate = 500 ms, and a refusal takes nothing.
  CHECK(ns(bucket.try_take(t0)) == ns(500ms));
  CHECK(ns(bucket.try_take(t0)) == ns(500ms));
  // Part of the way there, the wait shrinks accordingly.
  CHECK(ns(bucket.try_take(t0 + 250ms)) == ns(250ms));
  CHECK(ns(bucket.try_take(t0 + 375ms)) == ns(125ms));
  CHECK(ns(bucket.try_take(t0 + 500ms)) == 0);
  CHECK(ns(bucket.try_take(t0 + 500ms)) == ns(500ms));
}

TEST_CASE("TokenBucket: refill over time is capped at the burst") {
  TokenBucket bucket(4.0, 2.0, t0);
  CHECK(ns(bucket.try_take(t0)) == 0);
  CHECK(ns(bucket.try_take(t0)) == 0);
  CHECK(ns(bucket.try_take(t0)) == ns(250ms));
  // An hour later the bucket holds `burst` tokens, not 14400.
  const auto later = t0 + 1h;
  CHECK(bucket.full(later));
  CHECK(ns(bucket.try_take(later)) == 0);
  CHECK(ns(bucket.try_take(later)) == 0);
  CHECK(ns(bucket.try_take(later)) == ns(250ms));
}

TEST_CASE("TokenBucket: tokens come back at exactly `rate`") {
  TokenBucket bucket(1.0, 1.0, t0);
  CHECK(ns(bucket.try_take(t0)) == 0);
  for (int i = 1; i <= 5; ++i) {
    const auto now = t0 + std::chrono::seconds(i);
    CHECK_MESSAGE(ns(bucket.try_take(now - 500ms)) == ns(500ms), "second " << i);
    CHECK_MESSAGE(ns(bucket.try_take(now)) == 0, "second " << i);
  }
}

TEST_CASE("TokenBucket: time going backwards adds nothing") {
  TokenBucket bucket(1.0, 1.0, t0);
  CHECK(ns(bucket.try_take(t0)) == 0);
  CHECK(ns(bucket.try_take(t0 - 10s)) == ns(1s));
  CHECK(ns(bucket.try_take(t0 + 500ms)) == ns(500ms));
}

TEST_CASE("TokenBucket: reserve() queues callers at exactly the rate") {
  TokenBucket bucket(4.0, 2.0, t0);  // one token per 250 ms
  CHECK(ns(bucket.reserve(t0)) == 0);
  CHECK(ns(bucket.reserve(t0)) == 0);
  CHECK(ns(bucket.reserve(t0)) == ns(250ms));
  CHECK(ns(bucket.reserve(t0)) == ns(500ms));
  CHECK(ns(bucket.reserve(t0)) == ns(750ms));
  CHECK(ns(bucket.reserve(t0)) == ns(1000ms));
  // In debt: try_take refuses until the debt is paid and one token is back.
  CHECK(ns(bucket.try_take(t0)) == ns(1250ms));
  CHECK_FALSE(bucket.full(t0));
  // 500 ms later two tokens came back: the queue moved up by 500 ms.
  CHECK(ns(bucket.reserve(t0 + 500ms)) == ns(750ms));
  // Debt of 3 at t0 + 500ms: back to full (2) after 5 tokens = 1250 ms.
  CHECK_FALSE(bucket.full(t0 + 1500ms));
  CHECK(bucket.full(t0 + 1750ms));
  CHECK(ns(bucket.reserve(t0 + 1750ms)) == 0);
}

TEST_CASE("TokenBucket: full()") {
  TokenBucket bucket(4.0, 5.0, t0);
  CHECK(bucket.full(t0));
  CHECK(ns(bucket.try_take(t0)) == 0);
  CHECK_FALSE(bucket.full(t0));
  CHECK_FALSE(bucket.full(t0 + 125ms));
  CHECK(bucket.full(t0 + 250ms));
  CHECK(bucket.full(t0 + 10s));
}

// ---------------------------------------------------------------------------------------------------
// AddressLimiter

TEST_CASE("AddressLimiter: each address has its own bucket") {
  AddressLimiter limiter(1.0, 2.0);
  CHECK(limiter.tracked() == 0);
  CHECK(ns(limiter.try_take("10.0.0.1", t0)) == 0);
  CHECK(ns(limiter.try_take("10.0.0.1", t0)) == 0);
  CHECK(ns(limiter.try_take("10.0.0.1", t0)) == ns(1s));
  // Another address is untouched by the first one's burst.
  CHECK(ns(limiter.try_take("10.0.0.2", t0)) == 0);
  CHECK(ns(limiter.try_take("10.0.0.2", t0)) == 0);
  CHECK(ns(limiter.try_take("10.0.0.2", t0)) == ns(1s));
  CHECK(ns(limiter.try_take("::1", t0)) == 0);
  CHECK(limiter.tracked() == 3);
  // Refill is per address too.
  CHECK(ns(limiter.try_take("10.0.0.1", t0 + 500ms)) == ns(500ms));
  CHECK(ns(limiter.try_take("10.0.0.1", t0 + 1s)) == 0);
}

TEST_CASE("AddressLimiter: full buckets are forgotten by a sweep, busy ones kept") {
  AddressLimiter limiter(1.0, 2.0);
  // 1023 addresses publish once at t0.
  for (int i = 0; i < 1023; ++i) {
    REQUIRE(ns(limiter.try_take("quiet-" + std::to_string(i), t0)) == 0);
  }
  CHECK(limiter.tracked() == 1023);
  // Ten seconds later (all of them full again), "busy" publishes: 1024 buckets.
  const auto t1 = t0 + 10s;
  CHECK(ns(limiter.try_take("busy", t1)) == 0);
  CHECK(limiter.tracked() == 1024);
  // The next call sweeps: the 1023 refilled buckets go, "busy" (one token left of two) stays.
  CHECK(ns(limiter.try_take("newcomer", t1)) == 0);
  CHECK(limiter.tracked() == 2);
  // "busy" was not forgotten: one token, then empty (a fresh bucket would give two).
  CHECK(ns(limiter.try_take("busy", t1)) == 0);
  CHECK(ns(limiter.try_take("busy", t1)) == ns(1s));
  // A forgotten address starts again with a full burst.
  CHECK(ns(limiter.try_take("quiet-0", t1)) == 0);
  CHECK(ns(limiter.try_take("quiet-0", t1)) == 0);
  CHECK(ns(limiter.try_take("quiet-0", t1)) == ns(1s));
  CHECK(limiter.tracked() == 3);
}

TEST_CASE("AddressLimiter: a sweep keeps buckets that are still refilling") {
  AddressLimiter limiter(1.0, 2.0);
  for (int i = 0; i < 1024; ++i) {
    REQUIRE(ns(limiter.try_take("a-" + std::to_string(i), t0)) == 0);
  }
  CHECK(limiter.tracked() == 1024);
  // Half a second later nobody is full again: the sweep keeps everything.
  CHECK(ns(limiter.try_take("late", t0 + 500ms)) == 0);
  CHECK(limiter.tracked() == 1025);
}

// ---------------------------------------------------------------------------------------------------
// StaticFiles

namespace {

// base/
//   x, root2/secret.txt, outside/{secret.txt,index.html}
//   root/{index.html, app.js, style.css, logo.svg, img.png, data.xyz, README}
//   root/sub/{index.html, page.html}, root/noindex/
//   root/link_inside -> app.js, root/link_out -> ../outside/secret.txt, root/dir_out -> ../outside,
//   root/sibling_link -> ../root2/secret.txt, root/sub_link -> sub
class StaticTree {
 public:
  StaticTree() {
    base_ = fs::temp_directory_path() / ("chatd_static_test_" + std::to_string(::getpid()));
    fs::remove_all(base_);
    fs::create_directories(base_ / "root" / "sub");
    fs::create_directories(base_ / "root" / "noindex");
    fs::create_directories(base_ / "root2");
    fs::create_directories(base_ / "outside");
    write("x", "secret x");
    write("root2/secret.txt", "secret root2");
    write("outside/secret.txt", "secret outside");
    write("outside/index.html", "outside index");
    write("root/index.html", "<h1>home</h1>");
    write("root/app.js", "console.log(1);");
    write("root/style.css", "body{}");
    write("root/logo.svg", "<svg/>");
    write("root/img.png", std::string("\x89PNG\r\n\x1a\n\0\0", 10));
    write("root/data.xyz", "data");
    write("root/README", "readme");
    write("root/sub/index.html", "sub index");
    write("root/sub/page.html", "sub page");
    fs::create_symlink("app.js", base_ / "root" / "link_inside");
    fs::create_symlink("../outside/secret.txt", base_ / "root" / "link_out");
    fs::create_directory_symlink("../outside", base_ / "root" / "dir_out");
    fs::create_symlink("../root2/secret.txt", base_ / "root" / "sibling_link");
    fs::create_directory_symlink("sub", base_ / "root" / "sub_link");
  }
  ~StaticTree() { fs::remove_all(base_); }
  StaticTree(const StaticTree&) = delete;
  StaticTree& operator=(const StaticTree&) = delete;

  std::string root() const { return (base_ / "root").string(); }
  fs::path canonical(const std::string& relative) const { return fs::canonical(base_ / "root" / relative); }

 private:
  void write(const std::string& name, const std::string& contents) const {
    std::ofstream(base_ / name, std::ios::binary) << contents;
  }
  fs::path base_;
};

std::string body_of(const StaticFiles& files, std::string_view path) {
  const auto file = files.load(path);
  return file ? file->body : "<404>";
}

}  // namespace

TEST_CASE("StaticFiles: files inside the root") {
  StaticTree tree;
  StaticFiles files(tree.root(), "/");

  const auto index = files.load("/");
  REQUIRE(index.has_value());
  CHECK(index->body == "<h1>home</h1>");
  CHECK(index->content_type == "text/html; charset=utf-8");
  CHECK(files.resolve("/") == tree.canonical("index.html"));

  CHECK(body_of(files, "/index.html") == "<h1>home</h1>");
  CHECK(files.resolve("/index.html") == tree.canonical("index.html"));
  CHECK(body_of(files, "/sub/") == "sub index");
  CHECK(body_of(files, "/sub") == "sub index");
  CHECK(files.resolve("/sub/") == tree.canonical("sub/index.html"));
  CHECK(body_of(files, "/sub/page.html") == "sub page");
  CHECK(body_of(files, "/sub/./page.html") == "sub page");
  CHECK(body_of(files, "//sub//page.html") == "sub page");
  CHECK(body_of(files, "/%73ub/page%2Ehtml") == "sub page");  // encoded letters are just letters

  const auto png = files.load("/img.png");
  REQUIRE(png.has_value());
  CHECK(png->body == std::string("\x89PNG\r\n\x1a\n\0\0", 10));
  CHECK(png->content_type == "image/png");
  CHECK(files.load("/app.js")->content_type == "text/javascript; charset=utf-8");
  CHECK(files.load("/data.xyz")->content_type == "application/octet-stream");
}

TEST_CASE("StaticFiles: nothing outside the root") {
  StaticTree tree;
  StaticFiles files(tree.root(), "/");
  // base/x exists: each of these would reach it if ".." got through.
  for (std::string_view path :
       {"/../x", "/%2e%2e/x", "/%2E%2E/x", "/sub/../../x", "/sub/..%2f..%2fx", "/sub/%2e%2e%2f%2e%2e%2fx",
        "/.%2e/x", "/%2E%2E%2Fetc%2Fpasswd", "/../root2/secret.txt", "/..", "/sub/.."}) {
    CHECK_MESSAGE(!files.load(path).has_value(), path);
    CHECK_MESSAGE(!files.resolve(path).has_value(), path);
  }
}

TEST_CASE("StaticFiles: backslashes are refused") {
  StaticTree tree;
  StaticFiles files(tree.root(), "/");
  for (std::string_view path :
       {"/sub\\page.html", "/..\\x", "/sub\\..\\..\\x", "/%5c..%5cx", "/sub%5Cpage.html"}) {
    CHECK_MESSAGE(!files.load(path).has_value(), path);
  }
}

TEST_CASE("StaticFiles: symlinks") {
  StaticTree tree;
  StaticFiles files(tree.root(), "/");
  SUBCASE("to a file outside the root") {
    CHECK_FALSE(files.load("/link_out").has_value());
    CHECK_FALSE(files.resolve("/link_out").has_value());
  }
  SUBCASE("to a directory outside the root") {
    CHECK_FALSE(files.load("/dir_out/secret.txt").has_value());
    CHECK_FALSE(files.load("/dir_out/").has_value());
    CHECK_FALSE(files.load("/dir_out").has_value());
  }
  SUBCASE("to a sibling folder whose name starts like the root's") {
    CHECK_FALSE(files.load("/sibling_link").has_value());
  }
  SUBCASE("inside the root: allowed, typed by the target") {
    const auto file = files.load("/link_inside");
    REQUIRE(file.has_value());
    CHECK(file->body == "console.log(1);");
    CHECK(file->content_type == "text/javascript; charset=utf-8");
    CHECK(files.resolve("/link_inside") == tree.canonical("app.js"));
    CHECK(body_of(files, "/sub_link/page.html") == "sub page");
  }
}

TEST_CASE("StaticFiles: missing and malformed paths") {
  StaticTree tree;
  StaticFiles files(tree.root(), "/");
  CHECK_FALSE(files.load("/missing.html").has_value());
  CHECK_FALSE(files.load("/sub/missing.html").has_value());
  CHECK_FALSE(files.load("/noindex/").has_value());
  CHECK_FALSE(files.load("/%zz").has_value());
  CHECK_FALSE(files.load("/index.html%00").has_value());
  CHECK_FALSE(files.load("/%").has_value());
  CHECK_FALSE(files.load("index.html").has_value());

  StaticFiles nowhere(tree.root() + "/does-not-exist", "/");
  CHECK_FALSE(nowhere.load("/").has_value());
  CHECK_FALSE(nowhere.load("/index.html").has_value());
}

TEST_CASE("StaticFiles: a URL prefix") {
  StaticTree tree;
  for (const std::string prefix : {"/static", "/static/"}) {
    INFO("prefix " << prefix);
    StaticFiles files(tree.root(), prefix);
    CHECK(body_of(files, "/static/index.html") == "<h1>home</h1>");
    CHECK(body_of(files, "/static/") == "<h1>home</h1>");
    CHECK(body_of(files, "/static") == "<h1>home</h1>");
    CHECK(body_of(files, "/static/sub/page.html") == "sub page");
    CHECK(body_of(files, "/index.html") == "<404>");
    CHECK(body_of(files, "/") == "<404>");
    CHECK(body_of(files, "/stat") == "<404>");
    CHECK(body_of(files, "/staticx/index.html") == "<404>");
    CHECK(body_of(files, "/staticindex.html") == "<404>");
    CHECK(body_of(files, "/static/../x") == "<404>");
    CHECK(body_of(files, "/static/%2e%2e/x") == "<404>");
    CHECK(body_of(files, "/static/link_out") == "<404>");
  }
}

TEST_CASE("StaticFiles::content_type") {
  CHECK(StaticFiles::content_type("a/index.html") == "text/html; charset=utf-8");
  CHECK(StaticFiles::content_type("page.htm") == "text/html; charset=utf-8");
  CHECK(StaticFiles::content_type("app.js") == "text/javascript; charset=utf-8");
  CHECK(StaticFiles::content_type("mod.mjs") == "text/javascript; charset=utf-8");
  CHECK(StaticFiles::content_type("style.css") == "text/css; charset=utf-8");
  CHECK(StaticFiles::content_type("logo.svg") == "image/svg+xml");
  CHECK(StaticFiles::content_type("img.png") == "image/png");
  CHECK(StaticFiles::content_type("data.json") == "application/json");
  CHECK(StaticFiles::content_type("archive.xyz") == "application/octet-stream");
  CHECK(StaticFiles::content_type("README") == "application/octet-stream");
  CHECK(StaticFiles::content_type("dir.html/file") == "application/octet-stream");
}

// ---------------------------------------------------------------------------------------------------
// OutboundQueue

namespace {

std::vector<chatd::SharedFrame> frames(std::size_t count) {
  return std::vector<chatd::SharedFrame>(count, std::make_shared<const std::string>("x"));
}

}  // namespace

TEST_CASE("OutboundQueue: a full queue refuses the whole batch, and taking empties it") {
  chatd::OutboundQueue queue(3);
  using Status = chatd::OutboundQueue::Push::Status;
  const auto first = queue.push(frames(2));
  CHECK(first.status == Status::queued);
  CHECK(first.wake);  // the writer was idle
  CHECK(queue.push(frames(2)).status == Status::full);
  const auto third = queue.push(frames(1));
  CHECK(third.status == Status::queued);
  CHECK(!third.wake);  // already woken
  std::vector<chatd::SharedFrame> batch;
  bool ends_with_close = false;
  REQUIRE(queue.take(batch, ends_with_close));
  CHECK(batch.size() == 3);
  CHECK(queue.push(frames(3)).status == Status::queued);
}

TEST_CASE("OutboundQueue: live messages may queue beyond the limit while a replay is written, not after") {
  chatd::OutboundQueue queue(2);
  using Status = chatd::OutboundQueue::Push::Status;
  CHECK(queue.push_replay(frames(5)));
  CHECK(queue.push(frames(3)).status == Status::queued);  // 3 > 2, but the replay is not written yet
  std::vector<chatd::SharedFrame> batch;
  bool ends_with_close = false;
  REQUIRE(queue.take(batch, ends_with_close));  // the replay and the 3 go out together
  CHECK(batch.size() == 8);
  batch.clear();
  CHECK(queue.push(frames(6)).status == Status::queued);  // still within 2 + 5 while that is written
  CHECK(queue.push(frames(2)).status == Status::full);
  REQUIRE(queue.take(batch, ends_with_close));  // the writer is back: the replay is on the wire
  CHECK(batch.size() == 6);
  batch.clear();
  CHECK(queue.push(frames(3)).status == Status::full);  // the plain limit again
  CHECK(queue.push(frames(2)).status == Status::queued);
}

TEST_CASE("WorkerPool: a worker whose loop is blocked stops ticking, and stalled_since() names it") {
  using namespace std::chrono_literals;
  using Clock = std::chrono::steady_clock;
  chatd::WorkerPool workers(2, 10ms);
  workers.start();
  // Margins of a second over a 10 ms tick, and waits on what the blocked handler says it is doing: a
  // loaded machine or a sanitizer build must not fail this.
  CHECK(workers.stalled_since(Clock::now() - 1s).empty());
  std::atomic<bool> blocking{false}, released{false};
  asio::post(workers.at(1).context(), [&] {
    blocking = true;
    std::this_thread::sleep_for(2500ms);  // worker 1's tick cannot run meanwhile
    released = true;
  });
  while (!blocking) std::this_thread::sleep_for(1ms);
  std::this_thread::sleep_for(1500ms);
  CHECK(workers.stalled_since(Clock::now() - 1s) == std::vector<std::size_t>{1});
  while (!released) std::this_thread::sleep_for(1ms);
  std::this_thread::sleep_for(300ms);
  CHECK(workers.stalled_since(Clock::now() - 1s).empty());
  workers.stop();
  workers.join();
}
