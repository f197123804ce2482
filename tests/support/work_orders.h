// What the tests that run work orders share: the shipped templates, and running one order's
// tasks to an end (as `serve`'s workers do, in the test's thread).
#pragma once

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "workorders/engine.h"
#include "workorders/templates.h"

namespace tandem::testing {

// config/workorders.yaml as shipped (TANDEM_SOURCE_DIR: the test target's definition).
inline workorders::Templates ShippedTemplates() {
  std::ifstream in(std::string(TANDEM_SOURCE_DIR) + "/config/workorders.yaml");
  std::stringstream text;
  text << in.rdbuf();
  return workorders::ParseTemplates(text.str(), "config/workorders.yaml").value();
}

// Enqueues the order and runs the engine until it is Completed, Failed or Scheduled.
inline workorders::OrderState RunOrder(workorders::Engine& engine, const std::string& order_id) {
  auto enq = engine.Enqueue(order_id);
  EXPECT_TRUE(enq.ok()) << enq.status().ToString();
  for (int i = 0; i < 200; ++i) {
    auto ran = engine.RunOnce();
    EXPECT_TRUE(ran.ok()) << ran.status().ToString();
    auto s = engine.State(order_id).value();
    if (s.status == "Completed" || s.status == "Failed" || s.status == "Scheduled") return s;
    if (ran.ok() && ran->ran == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return engine.State(order_id).value();
}

}  // namespace tandem::testing
