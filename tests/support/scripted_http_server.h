// ScriptedHttpServer: an HTTP/1.1 server on 127.0.0.1 (real sockets, port chosen by the
// kernel) that answers from a script of responses, for testing clients against faults:
// delays, dropped connections, 429/503 with Retry-After. Written on raw POSIX sockets and
// sharing no code with the client, so a protocol bug cannot hide on both sides.
// Thread-safety: Enqueue/requests/connections are thread-safe.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace tandem::testing {

struct ScriptedResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body = "{\"ok\":true}";
  int delay_ms = 0;   // wait this long before answering
  bool drop = false;  // close the connection without answering
};

struct RecordedRequest {
  std::string method, path, body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string Header(const std::string& name) const;  // case-insensitive; "" when absent
};

class ScriptedHttpServer {
 public:
  ScriptedHttpServer();
  ~ScriptedHttpServer();

  int port() const { return port_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // Answers are taken in order; when the script is empty the default answer is used.
  void Enqueue(ScriptedResponse response);
  void SetDefault(ScriptedResponse response);
  // When set, computes the answer from the request (after the script is used up).
  void SetHandler(std::function<ScriptedResponse(const RecordedRequest&)> handler);

  std::vector<RecordedRequest> requests() const;
  int connections() const { return connections_.load(); }

 private:
  void AcceptLoop();
  void Serve(int fd);
  ScriptedResponse Next(const RecordedRequest& request);

  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  mutable std::mutex mu_;
  std::deque<ScriptedResponse> script_;
  ScriptedResponse default_;
  std::function<ScriptedResponse(const RecordedRequest&)> handler_;
  std::vector<RecordedRequest> requests_;
  std::vector<int> open_fds_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

}  // namespace tandem::testing
