// An emulator's network front, the same for the Salesforce and Stripe emulators: a
// LoopbackListener on a private loopback port behind a DropProxy on the public one (the proxy
// is what drops connections for the DROP_CONNECTION and LOSE_RESPONSE faults).
// Thread-safety: Start and Stop from one thread; the handler runs concurrently (listener.h).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "sandbox/faults/drop_proxy.h"
#include "sandbox/faults/listener.h"
#include "sandbox/http/latency.h"
#include "util/status.h"

namespace tandem::sandbox {

class EmulatorFront {
 public:
  // Opens the listener, then the proxy on host:port (0: a free port) in front of it. A
  // listener that cannot open fails with `name` as context ("Stripe sandbox"); when the proxy
  // cannot start, what was opened is stopped again. Every API request waits `latency` first.
  Status Start(const std::string& host, int port, std::chrono::seconds timeout,
               RequestHandler handler, const std::string& name, Latency latency = {});
  // Stops the proxy, then closes the listener (it waits for handlers still running).
  void Stop();

  int port() const { return port_; }  // the public port; 0 before Start
  std::string base_url(const std::string& host) const {
    return "http://" + host + ":" + std::to_string(port_);
  }
  // Every request received whole (see LoopbackListener::received); 0 when not listening.
  int64_t received() const { return listener_ ? listener_->received() : 0; }
  int64_t dropped() const { return proxy_.dropped(); }
  // API requests (not /__sandbox/ ones, nor logins) being served now, the network's delay included,
  // and the most there were at once since Start or ResetPeak.
  int in_flight() const { return gauge_->now.load(); }
  int peak_in_flight() const { return gauge_->peak.load(); }
  void ResetPeak() { gauge_->peak = gauge_->now.load(); }

 private:
  DropProxy proxy_;  // the public port; the listener sits behind it on a private one
  ListenerPtr listener_;
  int port_ = 0;
  std::shared_ptr<NetworkDelay> delay_;
  struct Gauge {
    std::atomic<int> now{0}, peak{0};
  };
  std::shared_ptr<Gauge> gauge_ = std::make_shared<Gauge>();
};

}  // namespace tandem::sandbox
