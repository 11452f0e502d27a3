#include "server/http/static_files.hpp"

#include <fstream>
#include <iterator>

#include "protocol/uri.hpp"

namespace chatd {

namespace fs = std::filesystem;

namespace {

constexpr std::uintmax_t max_static_file_size = 64 * 1024 * 1024;

bool is_inside(const fs::path& root, const fs::path& candidate) {
  auto [root_end, candidate_at] = std::mismatch(root.begin(), root.end(), candidate.begin(), candidate.end());
  return root_end == root.end();
}

}  // namespace

StaticFiles::StaticFiles(const std::string& root, std::string url_prefix) : prefix_(std::move(url_prefix)) {
  std::error_code ec;
  root_ = fs::canonical(root, ec);
  if (ec || !fs::is_directory(root_)) root_.clear();
  if (prefix_.empty() || prefix_.back() != '/') prefix_.push_back('/');
}

std::optional<fs::path> StaticFiles::resolve(std::string_view path) const {
  if (root_.empty()) return std::nullopt;
  if (path.substr(0, prefix_.size()) != prefix_) {
    if (path.size() + 1 != prefix_.size() || prefix_.compare(0, path.size(), path) != 0) return std::nullopt;
    path = {};  // "/static" for prefix "/static/"
  } else {
    path.remove_prefix(prefix_.size());
  }
  const auto decoded = protocol::percent_decode(path, false);
  if (!decoded) return std::nullopt;

  // Check every segment after decoding, so "%2e%2e" is caught like "..".
  fs::path relative;
  std::string_view rest = *decoded;
  while (!rest.empty()) {
    const auto slash = rest.find('/');
    const std::string_view segment = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
    if (segment.empty() || segment == ".") continue;
    if (segment == ".." || segment.find('\\') != std::string_view::npos) return std::nullopt;
    relative /= fs::path(segment);
  }

  std::error_code ec;
  fs::path file = fs::canonical(root_ / relative, ec);  // follows symlinks: the target must be inside too
  if (ec || !is_inside(root_, file)) return std::nullopt;
  if (fs::is_directory(file, ec)) {
    file = fs::canonical(file / "index.html", ec);
    if (ec || !is_inside(root_, file)) return std::nullopt;
  }
  if (!fs::is_regular_file(file, ec)) return std::nullopt;
  return file;
}

std::optional<StaticFiles::File> StaticFiles::load(std::string_view path) const {
  const auto file = resolve(path);
  if (!file) return std::nullopt;
  std::error_code ec;
  const auto size = fs::file_size(*file, ec);
  if (ec || size > max_static_file_size) return std::nullopt;
  std::ifstream in(*file, std::ios::binary);
  if (!in) return std::nullopt;
  File out;
  out.content_type = content_type(*file);
  out.body.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return out;
}

std::string_view StaticFiles::content_type(const fs::path& file) {
  const std::string extension = file.extension().string();
  if (extension == ".html" || extension == ".htm") return "text/html; charset=utf-8";
  if (extension == ".js" || extension == ".mjs") return "text/javascript; charset=utf-8";
  if (extension == ".css") return "text/css; charset=utf-8";
  if (extension == ".json") return "application/json";
  if (extension == ".svg") return "image/svg+xml";
  if (extension == ".png") return "image/png";
  if (extension == ".jpg" || extension == ".jpeg") return "image/jpeg";
  if (extension == ".gif") return "image/gif";
  if (extension == ".webp") return "image/webp";
  if (extension == ".ico") return "image/x-icon";
  if (extension == ".txt") return "text/plain; charset=utf-8";
  if (extension == ".woff2") return "font/woff2";
  if (extension == ".wasm") return "application/wasm";
  return "application/octet-stream";
}

}  // namespace chatd
