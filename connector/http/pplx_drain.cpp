#include "connector/http/pplx_drain.h"

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>

#include <pplx/pplx.h>

namespace tandem::connector::http {
namespace {

// pplx's interface has no virtual destructor; this class is final and only ever owned by a
// shared_ptr of its own type, whose deleter destroys it as what it is.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
class CountingScheduler final : public pplx::scheduler_interface {
 public:
  explicit CountingScheduler(std::shared_ptr<pplx::scheduler_interface> inner)
      : inner_(std::move(inner)) {}

  void schedule(pplx::TaskProc_t proc, void* param) override {
    pending_.fetch_add(1);
    inner_->schedule(&CountingScheduler::Run, new Chore{this, proc, param});
  }
  int64_t pending() const { return pending_.load(); }

 private:
  struct Chore {
    CountingScheduler* self;
    pplx::TaskProc_t proc;
    void* param;
  };
  static void Run(void* p) {
    std::unique_ptr<Chore> chore(static_cast<Chore*>(p));
    chore->proc(chore->param);
    chore->self->pending_.fetch_sub(1);
  }

  std::shared_ptr<pplx::scheduler_interface> inner_;
  std::atomic<int64_t> pending_{0};
};
#pragma GCC diagnostic pop

// pplx's ambient scheduler is process-wide, so the counting one is too.
std::shared_ptr<CountingScheduler>& Installed() {
  static std::shared_ptr<CountingScheduler> scheduler;
  return scheduler;
}

}  // namespace

void InstallPplxTracking() {
  static std::once_flag once;
  std::call_once(once, [] {
    // pplx's own default, made here: asking for the ambient one would fix it for good.
    Installed() =
        std::make_shared<CountingScheduler>(std::make_shared<pplx::default_scheduler_t>());
    pplx::set_ambient_scheduler(Installed());
  });
}

bool WaitForPplxIdle(Millis timeout) {
  const auto& scheduler = Installed();
  if (!scheduler) return true;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int idle_checks = 0;  // a task that just ran may schedule the next one of its chain
  while (idle_checks < 3) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    idle_checks = scheduler->pending() == 0 ? idle_checks + 1 : 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

}  // namespace tandem::connector::http
