// The emulators' HTTP front: a cpprest listener on a private loopback port, each request read
// whole before the handler runs, a request target the URI parser refuses answered 400 here.
// DropProxy stands in front of it on the public port.
// Thread-safety: the handler runs on cpprest's pool, concurrently.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <cpprest/http_listener.h>

#include "util/in_flight.h"
#include "util/result.h"

namespace tandem::sandbox {

struct IncomingRequest {
  std::string method, path, query, body;
  web::http::http_request raw;  // for headers and the reply
  // Called by SendReply just before the reply goes out (may be empty): a count of requests
  // being served ends there, not when the handler returns, since the client may have its
  // answer and send the next request before that.
  std::function<void()> before_reply;
};

using RequestHandler = std::function<void(IncomingRequest& request)>;

// The listener and the handlers it started. Close() stops taking requests and waits for the
// handlers still running (an answer delayed by a latency fault), so none outlives the
// emulator's state; a request that arrives while closing is not handled.
class LoopbackListener {
 public:
  ~LoopbackListener() { Close(); }
  void Close();
  // Requests received whole and handed to the handler (faulted ones included): with the
  // client's count of its calls, how many requests were sent again (by Tandem's retries or by
  // cpprest resending on a pooled connection that broke).
  int64_t received() const { return received_->load(); }

 private:
  friend Result<std::unique_ptr<LoopbackListener>> OpenLoopbackListener(int, std::chrono::seconds,
                                                                        RequestHandler);
  std::unique_ptr<web::http::experimental::listener::http_listener> listener_;
  std::shared_ptr<InFlight> handlers_ = std::make_shared<InFlight>();
  std::shared_ptr<std::atomic<int64_t>> received_ = std::make_shared<std::atomic<int64_t>>(0);
};
using ListenerPtr = std::unique_ptr<LoopbackListener>;

// After closing a cpprest listener: runs the handlers cpprest's pool has ready (the aborted
// accept among them), so nothing of the listener is still pending when the process exits.
void RunAbortedAccepts();

// Sends the answer. The client may be gone (it timed out, or a fault dropped it): the failed
// send is expected and observed here, as cpprest aborts the process on an unobserved one.
void SendReply(IncomingRequest& request, const web::http::http_response& response);

// Opens the listener on 127.0.0.1:`port`. Unavailable when it cannot bind.
Result<ListenerPtr> OpenLoopbackListener(int port, std::chrono::seconds timeout,
                                         RequestHandler handler);

}  // namespace tandem::sandbox
