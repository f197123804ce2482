// Threads that say why they ended the process: an exception escaping a std::thread's function
// calls std::terminate with no word of which thread or why. StartThread catches it, logs the
// thread's name and the error, flushes the log, and then stops the process (abort): a worker
// that died of a broken invariant must not leave a process that looks healthy and does part
// of its work (systemd restarts the service; work in flight is leased and resumes).
#pragma once

#include <cstdlib>
#include <exception>
#include <string>
#include <thread>
#include <utility>

#include "util/log.h"

namespace tandem {

template <class Body>
std::thread StartThread(std::string name, Body body) {
  return std::thread([name = std::move(name), body = std::move(body)]() mutable {
    try {
      body();
    } catch (const std::exception& e) {
      log::Get("thread")->error("thread '{}' ended by an exception: {}", name, e.what());
      log::Get("thread")->flush();
      std::abort();
    } catch (...) {
      log::Get("thread")->error("thread '{}' ended by an unknown exception", name);
      log::Get("thread")->flush();
      std::abort();
    }
  });
}

}  // namespace tandem
