// Files under static.root, served under routes.static. A request can never reach outside the root:
// ".." segments, encoded dots and symlinks that lead out all answer 404.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace chatd {

class StaticFiles {
 public:
  StaticFiles(const std::string& root, std::string url_prefix);

  struct File {
    std::string content_type;
    std::string body;
  };
  // `path` is the request path, still percent-encoded. nullopt: answer 404.
  std::optional<File> load(std::string_view path) const;

  // The canonical file `path` maps to, if it exists inside the root.
  std::optional<std::filesystem::path> resolve(std::string_view path) const;

  static std::string_view content_type(const std::filesystem::path& file);
  // The folder served, canonical; empty when there is none.
  const std::filesystem::path& root() const { return root_; }

 private:
  std::filesystem::path root_;  // canonical; empty when the folder does not exist
  std::string prefix_;
};

}  // namespace chatd
