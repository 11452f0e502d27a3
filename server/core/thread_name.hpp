#pragma once

#include <pthread.h>

#include <string>

namespace chatd {

// Names the calling thread as `top -H`, `ps -L`, perf and /proc/<pid>/task/<tid>/comm show it, so that an
// operator (and the benchmark, which reads the history writer's CPU from there) can tell the threads apart.
// Linux keeps 15 bytes of a name (pthread_setname_np(3)); a longer one is cut, not refused.
inline void name_this_thread(const std::string& name) {
  ::pthread_setname_np(::pthread_self(), name.substr(0, 15).c_str());
}

}  // namespace chatd
