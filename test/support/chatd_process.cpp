#include "test/support/chatd_process.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace chatd::test {

std::string write_temp_file(const std::string& content, const std::string& suffix) {
  std::string path = "/tmp/chatd-test-XXXXXX" + suffix;
  const int fd = mkstemps(path.data(), static_cast<int>(suffix.size()));
  if (fd < 0) throw std::runtime_error("mkstemps failed");
  close(fd);
  std::ofstream(path) << content;
  return path;
}

std::string make_temp_folder() {
  std::string path = "/tmp/chatd-test-XXXXXX";
  if (!mkdtemp(path.data())) throw std::runtime_error("mkdtemp failed");
  return path;
}

void remove_folder(const std::string& path) {
  std::error_code ignored;
  std::filesystem::remove_all(path, ignored);
}

std::string ChatdProcess::binary() {
  const char* path = std::getenv("CHATD_BIN");
  if (!path) throw std::runtime_error("CHATD_BIN is not set (run through meson test)");
  return path;
}

ChatdProcess::ChatdProcess(const std::string& yaml, const std::string& folder)
    : folder_(folder.empty() ? make_temp_folder() : folder), own_folder_(folder.empty()) {
  config_path_ = folder_ + "/chat.yaml";
  // The folder the default static.root names, which chatd requires; empty, so no test serves a stray file.
  std::filesystem::create_directory(folder_ + "/static");
  // The admin listener on a free port too (its default, 9280, would be shared by every test running at once),
  // unless the test configures it itself.
  const bool admin_given = yaml.starts_with("admin:") || yaml.find("\nadmin:") != std::string::npos;
  // Last, so that the lines a config error names stay where the test wrote them.
  const bool newline = yaml.empty() || yaml.back() == '\n';
  std::ofstream(config_path_) << "listen: { address: 127.0.0.1, port: 0 }\n"
                              << yaml
                              << (admin_given ? ""
                                  : newline   ? ""
                                              : "\n")
                              << (admin_given ? "" : "admin: { listen: \"127.0.0.1:0\" }\n");
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  const std::string bin = binary();
  pid_ = fork();
  if (pid_ == 0) {
    dup2(pipe_fds[1], STDERR_FILENO);
    execl(bin.c_str(), bin.c_str(), "--config", config_path_.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(pipe_fds[1]);
  log_reader_ = std::thread([this, fd = pipe_fds[0]] { read_log(fd); });
  if (!wait_for_log("listening on ", std::chrono::seconds(10))) {
    stop(SIGKILL);
    log_reader_.join();  // the destructor does not run for an object whose constructor throws
    if (own_folder_) remove_folder(folder_);
    throw std::runtime_error("chatd did not start:\n" + log());
  }
  // "listening on 127.0.0.1:PORT with N threads"
  const std::string text = log();
  const auto at = text.find("listening on ");
  const auto colon = text.find(':', at);
  if (colon == std::string::npos) throw std::runtime_error("no port in chatd's log:\n" + text);
  port_ = static_cast<std::uint16_t>(std::stoi(text.substr(colon + 1)));
}

ChatdProcess::~ChatdProcess() {
  if (exit_status_ < 0 && pid_ > 0) stop(SIGKILL);
  if (log_reader_.joinable()) log_reader_.join();
  if (own_folder_) remove_folder(folder_);
}

void ChatdProcess::read_log(int fd) {
  std::array<char, 4096> buffer;
  for (;;) {
    const ssize_t size = read(fd, buffer.data(), buffer.size());
    if (size <= 0) break;
    std::lock_guard lock(mutex_);
    log_.append(buffer.data(), static_cast<std::size_t>(size));
    changed_.notify_all();
  }
  close(fd);
}

std::string ChatdProcess::log() {
  std::lock_guard lock(mutex_);
  return log_;
}

bool ChatdProcess::wait_for_log(const std::string& text, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return log_.find(text) != std::string::npos; });
}

int ChatdProcess::stop(int signal, std::chrono::milliseconds timeout) {
  if (exit_status_ >= 0) return exit_status_;
  kill(pid_, signal);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  for (;;) {
    const pid_t done = waitpid(pid_, &status, WNOHANG);
    if (done == pid_) break;
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      exit_status_ = -1;
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return exit_status_;
}

int ChatdProcess::run_command(const std::string& args, std::string& output, std::chrono::seconds time_limit) {
  const std::string command =
      "timeout --signal=KILL " + std::to_string(time_limit.count()) + " " + binary() + " " + args + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) throw std::runtime_error("popen failed");
  std::array<char, 4096> buffer;
  output.clear();
  while (const std::size_t size = fread(buffer.data(), 1, buffer.size(), pipe))
    output.append(buffer.data(), size);
  const int status = pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace chatd::test
