#include "sandbox/faults/listener.h"

namespace tandem::sandbox {

namespace wh = web::http;

Result<ListenerPtr> OpenLoopbackListener(int port, std::chrono::seconds timeout,
                                         RequestHandler handler) {
  try {
    wh::experimental::listener::http_listener_config cfg;
    cfg.set_timeout(timeout);
    auto listener = std::make_unique<wh::experimental::listener::http_listener>(
        "http://127.0.0.1:" + std::to_string(port), cfg);
    listener->support([handler](wh::http_request req) {
      req.extract_string(true).then([handler, req](pplx::task<std::string> body_task) mutable {
        IncomingRequest in;
        in.raw = req;
        try {
          in.body = body_task.get();
        } catch (const std::exception&) {
          // A body that could not be read is an empty one; the handler answers it.
        }
        in.method = req.method();
        try {
          in.path = req.relative_uri().path();
          in.query = req.relative_uri().query();
        } catch (const std::exception& e) {
          req.reply(wh::status_codes::BadRequest, std::string("bad request target: ") + e.what());
          return;
        }
        handler(in);
      });
    });
    listener->open().wait();
    return ListenerPtr(std::move(listener));
  } catch (const std::exception& e) {
    return Status::Unavailable("cannot listen on 127.0.0.1:" + std::to_string(port) + ": " +
                               e.what());
  }
}

}  // namespace tandem::sandbox
