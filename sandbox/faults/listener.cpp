#include "sandbox/faults/listener.h"

#include <pplx/threadpool.h>

#include "util/openssl_init.h"

namespace tandem::sandbox {

namespace wh = web::http;

namespace {
void Observe(const pplx::task<void>& task) {
  task.then([](pplx::task<void> done) {
    try {
      done.get();
    } catch (const std::exception&) {
      // The peer went away before the answer: nothing to do.
    }
  });
}
}  // namespace

void RunAbortedAccepts() {
  // Closing a cpprest listener aborts its pending accept, whose handler frees the socket it
  // was accepting into; it only runs when a pool thread gets to it. Run what is ready now, so
  // a process that exits right after closing does not lose that socket (LeakSanitizer saw it).
  crossplat::threadpool::shared_instance().service().poll();
}

void SendReply(IncomingRequest& request, const wh::http_response& response) {
  if (request.before_reply) request.before_reply();
  Observe(request.raw.reply(response));
}

void LoopbackListener::Close() {
  if (listener_) {
    try {
      listener_->close().wait();
    } catch (const std::exception&) {
      // Closing a listener whose connections already failed: nothing left to close.
    }
    RunAbortedAccepts();
    listener_.reset();
  }
  handlers_->CloseAndWait();
}

Result<ListenerPtr> OpenLoopbackListener(int port, std::chrono::seconds timeout,
                                         RequestHandler handler) {
  InitOpenSsl();
  try {
    wh::experimental::listener::http_listener_config cfg;
    cfg.set_timeout(timeout);
    ListenerPtr out(new LoopbackListener());
    out->listener_ = std::make_unique<wh::experimental::listener::http_listener>(
        "http://127.0.0.1:" + std::to_string(port), cfg);
    std::shared_ptr<InFlight> handlers = out->handlers_;
    std::shared_ptr<std::atomic<int64_t>> received = out->received_;
    out->listener_->support([handler, handlers, received](wh::http_request req) {
      Observe(req.extract_string(true).then(
          [handler, handlers, received, req](pplx::task<std::string> body_task) mutable {
            if (!handlers->Enter()) return;
            struct Done {
              InFlight& h;
              ~Done() { h.Exit(); }
            } done{*handlers};
            IncomingRequest in;
            in.raw = req;
            try {
              in.body = body_task.get();
            } catch (const std::exception&) {
              // The client went away mid-request (killed, timed out). A server never acts on
              // half a request: handling it as an empty body would, for one, record its
              // idempotency key with the wrong parameters, and the client's retry would be
              // refused.
              return;
            }
            ++*received;
            in.method = req.method();
            try {
              in.path = req.relative_uri().path();
              in.query = req.relative_uri().query();
            } catch (const std::exception& e) {
              Observe(req.reply(wh::status_codes::BadRequest,
                                std::string("bad request target: ") + e.what()));
              return;
            }
            handler(in);
          }));
    });
    out->listener_->open().wait();
    return out;
  } catch (const std::exception& e) {
    return Status::Unavailable("cannot listen on 127.0.0.1:" + std::to_string(port) + ": " +
                               e.what());
  }
}

}  // namespace tandem::sandbox
