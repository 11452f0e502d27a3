// Runs the real chatd binary for a test: writes a config, starts it on a free port, captures its log,
// and stops it with a signal. The binary comes from $CHATD_BIN (set by meson).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace chatd::test {

class ChatdProcess {
 public:
  // `yaml` is the config minus `listen:`, which is added (127.0.0.1, port 0). Throws if it does not start.
  // The config is written into `folder` (so a relative history.path such as the default chat.db lands
  // there), with an empty `static` folder for the default static.root; without one, a fresh temporary
  // folder is made, and removed afterwards.
  explicit ChatdProcess(const std::string& yaml = "", const std::string& folder = "");
  ~ChatdProcess();
  ChatdProcess(const ChatdProcess&) = delete;
  ChatdProcess& operator=(const ChatdProcess&) = delete;

  std::uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }

  // Sends `signal` and waits for the exit: the exit code, or -1 if it did not exit within `timeout`
  // (then it is killed), or 128+N if a signal N ended it.
  int stop(int signal = SIGTERM, std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Everything written to stderr so far.
  std::string log();
  // Waits until the log contains `text`.
  bool wait_for_log(const std::string& text, std::chrono::milliseconds timeout = std::chrono::seconds(5));

  static std::string binary();
  // Runs chatd with `args` to completion; returns the exit code and fills `output` (stdout + stderr).
  // A chatd still running after `time_limit` is killed: the exit code is then 137 (128 + SIGKILL).
  static int run_command(const std::string& args, std::string& output,
                         std::chrono::seconds time_limit = std::chrono::seconds(30));

 private:
  void read_log(int fd);

  std::string folder_;
  bool own_folder_ = false;
  std::string config_path_;
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  int exit_status_ = -1;
  std::thread log_reader_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::string log_;
};

// A fresh temporary folder, and removing one with everything in it.
std::string make_temp_folder();
void remove_folder(const std::string& path);

// Writes `content` to a fresh temporary file and returns its path.
std::string write_temp_file(const std::string& content, const std::string& suffix = ".yaml");

}  // namespace chatd::test
