// Completion handler for co_spawn: a coroutine that ends with an exception is logged, never rethrown
// into io_context::run() where it would stop a whole worker.
#pragma once

#include <exception>

#include "server/core/log.hpp"

namespace chatd {

inline auto report_exception(const char* what) {
  return [what](std::exception_ptr error) {
    if (!error) return;
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      log::error(what, " failed: ", e.what());
    } catch (...) {
      log::error(what, " failed with an unknown exception");
    }
  };
}

}  // namespace chatd
