// Threads whose body cannot end the process: an exception escaping a std::thread's function
// calls std::terminate. StartThread runs the body inside a handler that logs what ended it,
// naming the thread, so one failed worker is reported and the process goes on (its owner sees
// the thread's work stop and can act on it).
#pragma once

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
    } catch (...) {
      log::Get("thread")->error("thread '{}' ended by an unknown exception", name);
    }
  });
}

}  // namespace tandem
