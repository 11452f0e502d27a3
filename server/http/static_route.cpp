// Files under static.root (StaticFiles). A missing file is 404 whatever the method, so this route checks
// its methods itself, after the lookup (MethodCheck::handler).
#include "server/http/errors.hpp"
#include "server/http/routes.hpp"

namespace chatd {

asio::awaitable<Outcome> static_route(Request& request) {
  auto file = request.context.static_files.load(request.target.path);
  if (!file) co_return respond_with(error_response(HttpError::not_found));
  if (!request.route.allows(request.http.method()))
    co_return respond_with(error_response(HttpError::method_not_allowed, request.route.binding.methods));
  Outcome outcome;
  outcome.response.content_type = file->content_type;
  outcome.response.body = std::move(file->body);
  outcome.response.headers.emplace_back("Cache-Control", "no-cache");
  outcome.response.headers.emplace_back("X-Content-Type-Options", "nosniff");
  co_return outcome;
}

}  // namespace chatd
