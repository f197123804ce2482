#include "connector/http/cpprest_transport.h"

#include <cerrno>
#include <map>
#include <mutex>

#include <cpprest/http_client.h>

#include "util/openssl_init.h"

namespace tandem::connector::http {

namespace wh = web::http;

struct CpprestTransport::Impl {
  TransportOptions options;
  std::mutex mu;
  std::map<int64_t, std::unique_ptr<wh::client::http_client>> clients;  // GUARDED_BY(mu)

  std::unique_ptr<wh::client::http_client> NewClient(Millis timeout) const {
    wh::client::http_client_config config;
    config.set_timeout(timeout);
    return std::make_unique<wh::client::http_client>(options.base_url, config);
  }
  wh::client::http_client& ClientFor(Millis timeout) {
    std::lock_guard<std::mutex> lock(mu);
    auto& slot = clients[timeout.count()];
    if (!slot) slot = NewClient(timeout);
    return *slot;
  }
};

CpprestTransport::CpprestTransport(TransportOptions options) : impl_(std::make_unique<Impl>()) {
  InitOpenSsl();
  impl_->options = std::move(options);
}

CpprestTransport::~CpprestTransport() = default;

Result<HttpResponse> CpprestTransport::Send(HttpRequest& request) {
  const Millis timeout = request.timeout.value_or(impl_->options.timeout);
  try {
    // cpprest sends a request again by itself, whatever its method, when the pooled
    // connection it went out on turns out closed while the answer is read (it takes that for
    // a keep-alive race). A request that must not be repeated (a Salesforce create) therefore
    // goes out on a connection of its own, so a lost answer surfaces here instead.
    std::unique_ptr<wh::client::http_client> own;
    if (!IsRetrySafe(request)) own = impl_->NewClient(timeout);
    auto& client = own ? *own : impl_->ClientFor(timeout);
    wh::http_request msg(request.method);
    msg.set_request_uri(request.path);
    std::string content_type;
    for (const auto& [k, v] : request.headers) {
      if (k == "Content-Type" || k == "content-type")
        content_type = v;
      else
        msg.headers().add(k, v);
    }
    if (!request.body.empty() || !content_type.empty()) {
      msg.set_body(request.body, content_type.empty() ? "application/octet-stream" : content_type);
    }
    wh::http_response resp = client.request(msg).get();
    HttpResponse out;
    out.status = resp.status_code();
    for (const auto& [k, v] : resp.headers()) out.headers.emplace_back(k, v);
    auto bytes = resp.extract_vector().get();
    out.body.assign(bytes.begin(), bytes.end());
    return out;
  } catch (const wh::http_exception& e) {
    const int code = e.error_code().value();
    const std::string what =
        impl_->options.base_url + " " + request.EndpointLabel() + ": " + e.what();
    if (code == ETIMEDOUT || code == static_cast<int>(std::errc::timed_out))
      return Status::Timeout(what);
    return Status::Unavailable(what);
  } catch (const web::uri_exception& e) {
    // Our own bad request: retrying cannot help.
    return Status::InvalidArgument(impl_->options.base_url + " " + request.EndpointLabel() + ": " +
                                   e.what());
  } catch (const std::exception& e) {
    return Status::Unavailable(impl_->options.base_url + " " + request.EndpointLabel() + ": " +
                               e.what());
  }
}

}  // namespace tandem::connector::http
