// The emulators' HTTP front: a cpprest listener on a private loopback port, each request read
// whole before the handler runs, a request target the URI parser refuses answered 400 here.
// DropProxy stands in front of it on the public port.
// Thread-safety: the handler runs on cpprest's pool, concurrently.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <cpprest/http_listener.h>

#include "util/result.h"

namespace tandem::sandbox {

struct IncomingRequest {
  std::string method, path, query, body;
  web::http::http_request raw;  // for headers and the reply
};

using RequestHandler = std::function<void(IncomingRequest& request)>;
using ListenerPtr = std::unique_ptr<web::http::experimental::listener::http_listener>;

// Opens the listener on 127.0.0.1:`port`. Unavailable when it cannot bind.
Result<ListenerPtr> OpenLoopbackListener(int port, std::chrono::seconds timeout,
                                         RequestHandler handler);

}  // namespace tandem::sandbox
