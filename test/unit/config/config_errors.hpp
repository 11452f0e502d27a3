// The message a config loads with: what() of its ConfigError, "FILE:LINE:COLUMN: KEY: problem", or "loaded".
// Shared by the section tests (config_admin_test, config_auth_test, config_cluster_test).
#pragma once

#include <string>
#include <string_view>

#include "config/config.hpp"

namespace chatd::config::test {

inline std::string error_of(std::string_view yaml) {
  try {
    load_string(yaml, "test.yaml");
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "loaded";
}

}  // namespace chatd::config::test
