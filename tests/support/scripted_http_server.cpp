#include "tests/support/scripted_http_server.h"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <stdexcept>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace tandem::testing {
namespace {

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

const char* Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Status";
  }
}

bool SendAll(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

std::string RecordedRequest::Header(const std::string& name) const {
  for (const auto& [k, v] : headers)
    if (Lower(k) == Lower(name)) return v;
  return "";
}

ScriptedHttpServer::ScriptedHttpServer() {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 64) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    throw std::runtime_error("ScriptedHttpServer: cannot listen on loopback");
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

ScriptedHttpServer::~ScriptedHttpServer() {
  stopping_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);
  ::close(listen_fd_);
  acceptor_.join();
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
  }
  for (auto& t : threads_) t.join();
}

void ScriptedHttpServer::Enqueue(ScriptedResponse response) {
  std::lock_guard<std::mutex> lock(mu_);
  script_.push_back(std::move(response));
}

void ScriptedHttpServer::SetDefault(ScriptedResponse response) {
  std::lock_guard<std::mutex> lock(mu_);
  default_ = std::move(response);
}

void ScriptedHttpServer::SetHandler(std::function<ScriptedResponse(const RecordedRequest&)> h) {
  std::lock_guard<std::mutex> lock(mu_);
  handler_ = std::move(h);
}

std::vector<RecordedRequest> ScriptedHttpServer::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

ScriptedResponse ScriptedHttpServer::Next(const RecordedRequest& request) {
  std::function<ScriptedResponse(const RecordedRequest&)> handler;
  {
    std::lock_guard<std::mutex> lock(mu_);
    requests_.push_back(request);
    if (!script_.empty()) {
      ScriptedResponse r = script_.front();
      script_.pop_front();
      return r;
    }
    if (!handler_) return default_;
    handler = handler_;
  }
  return handler(request);
}

void ScriptedHttpServer::AcceptLoop() {
  while (!stopping_) {
    const int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) {
      if (stopping_) return;
      continue;
    }
    ++connections_;
    std::lock_guard<std::mutex> lock(mu_);
    open_fds_.push_back(fd);
    threads_.emplace_back([this, fd] { Serve(fd); });
  }
}

void ScriptedHttpServer::Serve(int fd) {
  std::string buffer;
  char chunk[16384];
  auto read_more = [&]() -> bool {
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer.append(chunk, static_cast<size_t>(n));
    return true;
  };
  for (;;) {
    size_t header_end;
    while ((header_end = buffer.find("\r\n\r\n")) == std::string::npos)
      if (!read_more()) goto done;
    {
      RecordedRequest req;
      const std::string head = buffer.substr(0, header_end);
      size_t line_end = head.find("\r\n");
      const std::string request_line = head.substr(0, line_end);
      const auto sp1 = request_line.find(' ');
      const auto sp2 = request_line.rfind(' ');
      req.method = request_line.substr(0, sp1);
      req.path = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
      size_t content_length = 0;
      bool chunked = false;
      size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
      while (pos < head.size()) {
        size_t e = head.find("\r\n", pos);
        if (e == std::string::npos) e = head.size();
        const std::string line = head.substr(pos, e - pos);
        const auto colon = line.find(':');
        if (colon != std::string::npos) {
          std::string value = line.substr(colon + 1);
          value.erase(0, value.find_first_not_of(' '));
          req.headers.emplace_back(line.substr(0, colon), value);
          const std::string key = Lower(line.substr(0, colon));
          if (key == "content-length") content_length = std::stoul(value);
          if (key == "transfer-encoding" && Lower(value).find("chunked") != std::string::npos)
            chunked = true;
        }
        pos = e + 2;
      }
      buffer.erase(0, header_end + 4);
      if (chunked) {
        for (;;) {
          size_t le;
          while ((le = buffer.find("\r\n")) == std::string::npos)
            if (!read_more()) goto done;
          const size_t size = std::stoul(buffer.substr(0, le), nullptr, 16);
          while (buffer.size() < le + 2 + size + 2)
            if (!read_more()) goto done;
          req.body += buffer.substr(le + 2, size);
          buffer.erase(0, le + 2 + size + 2);
          if (size == 0) break;
        }
      } else {
        while (buffer.size() < content_length)
          if (!read_more()) goto done;
        req.body = buffer.substr(0, content_length);
        buffer.erase(0, content_length);
      }

      ScriptedResponse resp = Next(req);
      if (resp.delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(resp.delay_ms));
      if (resp.drop) goto done;
      std::string out =
          "HTTP/1.1 " + std::to_string(resp.status) + " " + Reason(resp.status) + "\r\n";
      bool has_type = false;
      for (const auto& [k, v] : resp.headers) {
        out += k + ": " + v + "\r\n";
        has_type = has_type || Lower(k) == "content-type";
      }
      if (!has_type) out += "Content-Type: application/json\r\n";
      out += "Content-Length: " + std::to_string(resp.body.size()) + "\r\n";
      out += "Connection: keep-alive\r\n\r\n";
      out += resp.body;
      if (!SendAll(fd, out)) goto done;
    }
  }
done:
  ::shutdown(fd, SHUT_RDWR);
  ::close(fd);
  std::lock_guard<std::mutex> lock(mu_);
  open_fds_.erase(std::remove(open_fds_.begin(), open_fds_.end(), fd), open_fds_.end());
}

}  // namespace tandem::testing
