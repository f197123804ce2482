#include "sandbox/http/emulator_front.h"

#include <thread>
#include <utility>

#include "util/net.h"

namespace tandem::sandbox {

Status EmulatorFront::Start(const std::string& host, int port, std::chrono::seconds timeout,
                            RequestHandler handler, const std::string& name, Latency latency) {
  if (latency.fixed_ms > 0 || latency.jitter_ms > 0) {
    delay_ = std::make_shared<NetworkDelay>(latency);
    handler = [delay = delay_, inner = std::move(handler)](IncomingRequest& in) {
      std::this_thread::sleep_for(delay->Delay(in.path));
      inner(in);
    };
  }
  handler = [gauge = gauge_, inner = std::move(handler)](IncomingRequest& in) {
    // Admin requests and logins are not API requests (Salesforce does not count logins).
    if (in.path.rfind("/__sandbox/", 0) == 0 || in.path.find("/oauth2/") != std::string::npos)
      return inner(in);
    const int now = ++gauge->now;
    for (int peak = gauge->peak.load();
         now > peak && !gauge->peak.compare_exchange_weak(peak, now);) {
    }
    // Ends as the reply goes out, or when the handler returns without one (a dropped answer).
    auto counted = std::make_shared<std::atomic<bool>>(true);
    auto end = [gauge, counted] {
      if (counted->exchange(false)) --gauge->now;
    };
    in.before_reply = end;
    struct Leave {
      std::function<void()> end;
      ~Leave() { end(); }
    } leave{end};
    inner(in);
  };
  // The listener cannot report the port it bound: find a free private one first.
  const int inner_port = FreeLoopbackPort();
  auto listener = OpenLoopbackListener(inner_port, timeout, std::move(handler));
  if (!listener.ok()) return listener.status().WithContext(name);
  listener_ = std::move(listener).value();
  Status st = proxy_.Start(host, port, inner_port);
  if (!st.ok()) {
    Stop();
    return st;
  }
  port_ = proxy_.port();
  return Status::Ok();
}

void EmulatorFront::Stop() {
  proxy_.Stop();
  if (!listener_) return;
  listener_->Close();  // waits for handlers still running
  listener_.reset();
}

}  // namespace tandem::sandbox
