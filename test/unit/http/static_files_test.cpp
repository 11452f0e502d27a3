// Static file resolution (server/http/static_files.hpp): files, content types, and nothing outside the
// root, through symlinks or otherwise. Files live in a temp folder.
#include <doctest/doctest.h>

#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>

#include "server/http/static_files.hpp"

using chatd::StaticFiles;

namespace fs = std::filesystem;

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
