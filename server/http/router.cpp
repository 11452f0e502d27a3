#include "server/http/router.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "server/http/errors.hpp"

namespace chatd {

bool Route::allows(std::string_view method) const {
  if (binding.methods.empty()) return true;
  std::string_view rest = binding.methods;  // "GET, HEAD"
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    if (rest.substr(0, comma) == method) return true;
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  }
  return false;
}

namespace {

// "/files/" serves "/files/a" and "/files" itself, as StaticFiles reads it ("/files" is taken as "/files/").
bool falls_under(std::string_view path, std::string_view prefix) {
  if (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
  if (path.substr(0, prefix.size()) != prefix) return false;
  return path.size() == prefix.size() || path[prefix.size()] == '/';
}

}  // namespace

Router::Router(const config::Routes& paths, std::span<const RouteBinding> bindings) {
  for (const auto& key : config::route_keys) {
    const auto bound = std::find_if(bindings.begin(), bindings.end(),
                                    [&](const RouteBinding& binding) { return binding.key == key.key; });
    if (bound == bindings.end())
      throw std::invalid_argument("route key routes." + std::string(key.key) + " has no handler");
    add(Route{*bound, paths.*key.path, key.prefix});
  }
  sort_prefixes();
}

Router Router::admin() {
  Router router;
  for (const auto& route : admin_routes) router.add(Route{route.binding, std::string(route.path), false});
  return router;
}

void Router::add(Route route) {
  // The config loader refuses this with the place in the file; a Router made otherwise (tests) is checked
  // too.
  for (const auto* table : {&exact_, &prefixed_}) {
    for (const auto& other : *table) {
      if (other.path == route.path)
        throw std::invalid_argument("routes." + std::string(route.binding.key) + " and routes." +
                                    std::string(other.binding.key) + " share the path " + route.path);
    }
  }
  (route.prefix ? prefixed_ : exact_).push_back(std::move(route));
}

void Router::sort_prefixes() {
  std::stable_sort(prefixed_.begin(), prefixed_.end(),
                   [](const Route& a, const Route& b) { return a.path.size() > b.path.size(); });
}

const Route* Router::find(std::string_view path) const {
  for (const auto& route : exact_) {
    if (route.path == path) return &route;
  }
  for (const auto& route : prefixed_) {
    if (falls_under(path, route.path)) return &route;
  }
  return nullptr;
}

const Route* Router::route(std::string_view path, std::string_view method,
                           protocol::HttpResponse& refusal) const {
  const Route* found = find(path);
  if (!found) {
    refusal = error_response(HttpError::not_found);
  } else if (found->binding.check == MethodCheck::router && !found->allows(method)) {
    refusal = error_response(HttpError::method_not_allowed, found->binding.methods);
    found = nullptr;
  }
  return found;
}

}  // namespace chatd
