// chatd: a real-time chat and pub/sub server. Command line in, exit code out.
#include <malloc.h>

#include <cstring>
#include <iostream>
#include <string>
#include <system_error>

#include <termios.h>
#include <unistd.h>

#include "chatd_version.hpp"
#include "config/config.hpp"
#include "protocol/base64url.hpp"
#include "server/app/server.hpp"
#include "server/auth/authenticator.hpp"
#include "server/auth/crypto.hpp"
#include "server/store/session_store.hpp"

namespace {

constexpr int exit_ok = 0;
constexpr int exit_runtime_error = 1;
constexpr int exit_usage_or_config = 2;

void print_help(std::ostream& out) {
  out << "usage: chatd [--config FILE] [--check-config]\n"
         "       chatd --hash-password | --new-api-key\n"
         "\n"
         "  --config FILE    YAML configuration (default: chat.yaml); see docs/config.md\n"
         "  --check-config   validate the configuration, print \"ok\" or the error, and exit\n"
         "  --hash-password  read a password on standard input (one line) and print its hash, for\n"
         "                   auth.password_hash or auth.users\n"
         "  --new-api-key    print a new API key, and the SHA-256 of it for auth.api_keys\n"
         "  --help           show this help\n"
         "  --version        show the version\n"
         "\n"
         "Exit codes: 0 clean shutdown (SIGINT/SIGTERM), 1 runtime failure (e.g. the port is taken),\n"
         "2 bad command line or bad configuration.\n";
}

// One line from standard input, without echo when it is a terminal.
bool read_password(std::string& password) {
  const bool terminal = ::isatty(STDIN_FILENO) == 1;
  termios saved{};
  if (terminal) {
    std::cerr << "password: " << std::flush;
    ::tcgetattr(STDIN_FILENO, &saved);
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  const bool read = static_cast<bool>(std::getline(std::cin, password));
  if (terminal) {
    ::tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    std::cerr << "\n";
  }
  if (!password.empty() && password.back() == '\r') password.pop_back();
  return read;
}

int hash_password() {
  std::string password;
  if (!read_password(password) || password.empty()) {
    std::cerr << "chatd: --hash-password needs a password on standard input\n";
    return exit_usage_or_config;
  }
  try {
    std::cout << chatd::crypto::hash_password(password) << "\n";
  } catch (const std::exception& error) {
    std::cerr << "chatd: " << error.what() << "\n";
    return exit_runtime_error;
  }
  return exit_ok;
}

int new_api_key() {
  try {
    // 32 random bytes: the key a script sends; the config keeps only its SHA-256.
    const std::string key = chatd::protocol::base64url_encode(chatd::crypto::random_bytes(32));
    std::cout << "key:    " << key << "\n"
              << "sha256: " << chatd::crypto::sha256_hex(key) << "\n";
  } catch (const std::exception& error) {
    std::cerr << "chatd: " << error.what() << "\n";
    return exit_runtime_error;
  }
  return exit_ok;
}

}  // namespace

int main(int argc, char** argv) {
  // Large blocks (a /history page, a big answer) are mapped on their own and unmapped when freed, so the
  // memory a client made the server hold goes back to the system when the client is dropped. By default
  // glibc raises this threshold after the first large block is freed (up to 32 MiB, mallopt(3)), and later
  // large answers then come from the heap and stay in RSS after they are freed; setting it fixes it at
  // glibc's initial 128 KiB. Frames and queues stay far below it.
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  std::string config_path = "chat.yaml";
  bool check_only = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      print_help(std::cout);
      return exit_ok;
    } else if (arg == "--version") {
      std::cout << "chatd " << CHATD_VERSION << "\n";
      return exit_ok;
    } else if (arg == "--check-config") {
      check_only = true;
    } else if (arg == "--hash-password") {
      return hash_password();
    } else if (arg == "--new-api-key") {
      return new_api_key();
    } else if (arg == "--config" || arg.rfind("--config=", 0) == 0) {
      if (arg == "--config") {
        config_path = i + 1 < argc ? argv[++i] : "";
      } else {
        config_path = arg.substr(std::strlen("--config="));
      }
      if (config_path.empty()) {
        std::cerr << "chatd: --config needs a FILE\n";
        print_help(std::cerr);
        return exit_usage_or_config;
      }
    } else {
      std::cerr << "chatd: unknown argument '" << arg << "'\n";
      print_help(std::cerr);
      return exit_usage_or_config;
    }
  }

  chatd::config::Config config;
  try {
    config = chatd::config::load_file(config_path);
  } catch (const chatd::config::ConfigError& error) {
    std::cerr << error.what() << "\n";
    return exit_usage_or_config;
  }
  if (check_only) {
    try {
      // What the server checks at start-up beyond the YAML: hashes and keys, parsed by libcrypto. Sessions
      // are not read (that would need the database, which the running server may hold).
      chatd::config::History no_database;
      no_database.store = chatd::config::History::Store::memory;
      chatd::Authenticator check(config.auth, chatd::open_session_store(no_database),
                                 std::chrono::system_clock::now());
    } catch (const chatd::config::ConfigError& error) {
      std::cerr << error.what() << "\n";
      return exit_usage_or_config;
    }
    std::cout << "ok\n";
    return exit_ok;
  }

  const std::string listen_text = config.listen.address + ":" + std::to_string(config.listen.port);
  try {
    chatd::Server server(std::move(config));
    return server.run();
  } catch (const chatd::config::ConfigError& error) {
    std::cerr << error.what() << "\n";
    return exit_usage_or_config;
  } catch (const chatd::StoreError& error) {
    // A history that cannot be read or written is a configuration problem, like a bad key.
    std::cerr << "chatd: " << error.what() << "\n";
    return exit_usage_or_config;
  } catch (const std::system_error& error) {
    std::cerr << "chatd: cannot listen on " << listen_text << ": " << error.code().message() << "\n";
    return exit_runtime_error;
  } catch (const std::exception& error) {
    std::cerr << "chatd: " << error.what() << "\n";
    return exit_runtime_error;
  }
}
