// DropProxy: a TCP proxy in front of an emulator's HTTP listener that can drop connections —
// the one fault an HTTP handler cannot produce by itself. The emulator marks a response with
// the header kDropMarker; the proxy, seeing it in the byte stream, closes the client's
// connection instead of forwarding that answer (the client sees a reset/EOF, as when a
// network path dies after the server acted). Fault injection as a wrapper around the real
// listener (LevelDB's EnvWrapper idea).
// Thread-safety: Start/Stop from one thread; connections are served on their own threads.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "util/status.h"

namespace tandem::sandbox {

inline constexpr char kDropMarker[] = "X-Sandbox-Drop-Connection";

class DropProxy {
 public:
  DropProxy() = default;
  ~DropProxy();

  // Listens on host:port (0: a free port) and forwards to 127.0.0.1:target_port.
  Status Start(const std::string& host, int port, int target_port);
  void Stop();
  int port() const { return port_; }
  int64_t dropped() const { return dropped_.load(); }

 private:
  void AcceptLoop();
  void Pump(int client_fd);

  int listen_fd_ = -1;
  int port_ = 0;
  int target_port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> dropped_{0};
  std::mutex mu_;
  std::vector<int> fds_;  // GUARDED_BY(mu_): open sockets, shut down on Stop
  // One per open connection; finished ones are joined at the next accept, so a long-running
  // sandbox does not keep a thread (and its stack) per connection it ever served.
  struct Connection {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::vector<Connection> connections_;  // GUARDED_BY(mu_)
  std::thread acceptor_;
};

}  // namespace tandem::sandbox
