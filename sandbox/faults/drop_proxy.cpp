#include "sandbox/faults/drop_proxy.h"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "util/thread.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

namespace tandem::sandbox {
namespace {

// Percent-encodes what a strict URI parser refuses in a request target but real clients
// send raw (stripe-node writes metadata['key'] brackets unencoded; cpprest's listener would
// reject them).
std::string NormalizeRequestLine(const std::string& line) {
  const auto sp1 = line.find(' ');
  const auto sp2 = line.rfind(' ');
  if (sp1 == std::string::npos || sp2 <= sp1) return line;
  std::string out = line.substr(0, sp1 + 1);
  static const char* kHex = "0123456789ABCDEF";
  for (size_t i = sp1 + 1; i < sp2; ++i) {
    const unsigned char c = static_cast<unsigned char>(line[i]);
    if (c == '[' || c == ']' || c == '|' || c == '"' || c == '<' || c == '>' || c == '\\' ||
        c == '^' || c == '`' || c == '{' || c == '}' || c >= 0x80) {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out + line.substr(sp2);
}

// Splits the client's byte stream into requests, rewriting each request line; bodies
// (Content-Length or chunked) pass through untouched.
class RequestRewriter {
 public:
  // Appends input and returns what may be forwarded now.
  std::string Feed(const char* data, size_t n) {
    in_.append(data, n);
    std::string out;
    for (;;) {
      if (state_ == State::kHead) {
        const auto end = in_.find("\r\n\r\n");
        if (end == std::string::npos) break;
        std::string head = in_.substr(0, end + 4);
        in_.erase(0, end + 4);
        const auto eol = head.find("\r\n");
        head = NormalizeRequestLine(head.substr(0, eol)) + head.substr(eol);
        remaining_ = 0;
        state_ = State::kHead;
        std::string lower = head;
        for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (lower.find("\r\ntransfer-encoding:") != std::string::npos &&
            lower.find("chunked") != std::string::npos) {
          state_ = State::kChunkSize;
        } else if (auto cl = lower.find("\r\ncontent-length:"); cl != std::string::npos) {
          remaining_ = std::strtoull(lower.c_str() + cl + 17, nullptr, 10);
          if (remaining_ > 0) state_ = State::kBody;
        }
        out += head;
      } else if (state_ == State::kBody || state_ == State::kChunkData) {
        const size_t take = std::min<size_t>(remaining_, in_.size());
        out.append(in_, 0, take);
        in_.erase(0, take);
        remaining_ -= take;
        if (remaining_ > 0) break;
        state_ = state_ == State::kBody ? State::kHead : State::kChunkSize;
      } else if (state_ == State::kChunkSize) {
        const auto eol = in_.find("\r\n");
        if (eol == std::string::npos) break;
        const size_t size = std::strtoull(in_.c_str(), nullptr, 16);
        out.append(in_, 0, eol + 2);
        in_.erase(0, eol + 2);
        if (size == 0) {
          state_ = State::kTrailer;
        } else {
          remaining_ = size + 2;  // the data and its CRLF
          state_ = State::kChunkData;
        }
      } else {  // kTrailer: lines until an empty one
        const auto eol = in_.find("\r\n");
        if (eol == std::string::npos) break;
        out.append(in_, 0, eol + 2);
        in_.erase(0, eol + 2);
        if (eol == 0) state_ = State::kHead;
      }
    }
    return out;
  }

 private:
  enum class State { kHead, kBody, kChunkSize, kChunkData, kTrailer };
  State state_ = State::kHead;
  std::string in_;
  size_t remaining_ = 0;
};

}  // namespace

DropProxy::~DropProxy() { Stop(); }

Status DropProxy::Start(const std::string& host, int port, int target_port) {
  target_port_ = target_port;
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1)
    return Status::InvalidArgument("sandbox host must be an IPv4 address, got " + host);
  socklen_t len = sizeof addr;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 128) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const std::string err = std::strerror(errno);
    ::close(listen_fd_);
    listen_fd_ = -1;
    return Status::Unavailable("cannot listen on " + host + ":" + std::to_string(port) + ": " +
                               err);
  }
  port_ = ntohs(addr.sin_port);
  acceptor_ = StartThread("sandbox-accept", [this] { AcceptLoop(); });
  return Status::Ok();
}

void DropProxy::Stop() {
  if (listen_fd_ < 0) return;
  stopping_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);
  ::close(listen_fd_);
  listen_fd_ = -1;
  if (acceptor_.joinable()) acceptor_.join();
  std::vector<Connection> connections;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    connections.swap(connections_);
  }
  for (auto& c : connections) c.thread.join();
}

void DropProxy::AcceptLoop() {
  while (!stopping_) {
    const int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) {
      if (stopping_) return;
      continue;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = connections_.begin(); it != connections_.end();) {
      if (it->done->load()) {
        it->thread.join();
        it = connections_.erase(it);
      } else {
        ++it;
      }
    }
    fds_.push_back(fd);
    auto done = std::make_shared<std::atomic<bool>>(false);
    connections_.push_back(Connection{StartThread("sandbox-connection",
                                                  [this, fd, done] {
                                                    Pump(fd);
                                                    *done = true;
                                                  }),
                                      done});
  }
}

void DropProxy::Pump(int client) {
  const int upstream = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(target_port_));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int one = 1;
  ::setsockopt(upstream, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  bool ok = ::connect(upstream, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  if (ok) {
    std::lock_guard<std::mutex> lock(mu_);
    fds_.push_back(upstream);
  }
  // Bytes from upstream are held until a whole header block is seen, so a marked answer is
  // never partly forwarded.
  std::string pending;
  RequestRewriter rewriter;
  char buf[65536];
  pollfd fds[2] = {{client, POLLIN, 0}, {upstream, POLLIN, 0}};
  while (ok && !stopping_) {
    if (::poll(fds, 2, 500) < 0) break;
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      const ssize_t n = ::recv(client, buf, sizeof buf, 0);
      if (n <= 0) {
        // The client is done sending: pass that on and keep relaying the answer.
        ::shutdown(upstream, SHUT_WR);
        fds[0].fd = -1;
        continue;
      }
      const std::string forward = rewriter.Feed(buf, static_cast<size_t>(n));
      if (!forward.empty() && ::send(upstream, forward.data(), forward.size(), MSG_NOSIGNAL) !=
                                  static_cast<ssize_t>(forward.size()))
        break;
    }
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      const ssize_t n = ::recv(upstream, buf, sizeof buf, 0);
      if (n <= 0) {
        // The server closed: what it sent before closing still reaches the client.
        if (!pending.empty() && pending.find(kDropMarker) == std::string::npos)
          (void)::send(client, pending.data(), pending.size(), MSG_NOSIGNAL);
        break;
      }
      pending.append(buf, static_cast<size_t>(n));
      if (pending.find(kDropMarker) != std::string::npos) {
        ++dropped_;
        ::shutdown(client, SHUT_RDWR);  // the answer is lost on the way
        break;
      }
      // Forward everything up to the last complete header block boundary we have seen; keep
      // a tail long enough to catch a marker split across reads.
      const size_t keep = std::min(pending.size(), sizeof(kDropMarker) + 4);
      const size_t send_len = pending.size() - keep;
      if (send_len > 0) {
        if (::send(client, pending.data(), send_len, MSG_NOSIGNAL) !=
            static_cast<ssize_t>(send_len))
          break;
        pending.erase(0, send_len);
      }
      // Flush the tail when nothing more is coming right now.
      pollfd more{upstream, POLLIN, 0};
      if (::poll(&more, 1, 0) == 0 && !pending.empty()) {
        if (::send(client, pending.data(), pending.size(), MSG_NOSIGNAL) !=
            static_cast<ssize_t>(pending.size()))
          break;
        pending.clear();
      }
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (int fd : {client, upstream}) {
    ::close(fd);
    fds_.erase(std::remove(fds_.begin(), fds_.end(), fd), fds_.end());
  }
}

}  // namespace tandem::sandbox
