#include "connector/http/flow_control.h"

#include <algorithm>
#include <cmath>

namespace tandem::connector::http {
namespace {

constexpr double kAlpha = 0.2;    // weight of the newest latency in the average
constexpr double kMargin = 1.25;  // in flight beyond R x L: latency varies call to call
// Back up after a cut: each second without a throttled answer gives back a tenth of the
// configured rate, up to 95 % of the rate that was refused, then a hundredth a second. By
// time, not by answers: a rate set above the remote's limit is refused again after some
// seconds, not within the next few answers.
constexpr std::chrono::seconds kRecoverEvery{1};
constexpr double kRecoverStep = 0.1;
constexpr double kProbeStep = 0.01;  // above the last refused rate's 95 %
constexpr double kLowestFactor = 0.05;
// What a throttled answer leaves of the rate. Not half: near the configured rate a refusal is
// mostly the two sides' windows disagreeing at an edge (jitter moves a few calls across it),
// and halving for each cost a fifth of the throughput in the work-order bench; repeated
// refusals still cut it fast (0.75^n).
constexpr double kCut = 0.75;
constexpr int kWithoutRate = 4;  // no limit stated: a few, not a flood

}  // namespace

FlowControl::FlowControl(double rate_per_second, int cap, TokenBucket* bucket)
    : rate_(rate_per_second), cap_(std::max(1, cap)), bucket_(bucket) {}

void FlowControl::Observe(Millis latency, bool throttled, SteadyTime now) {
  std::lock_guard<std::mutex> lock(mu_);
  const double ms = static_cast<double>(latency.count());
  if (throttled) {
    ++throttled_;
    last_step_ = now;  // a second without a refusal starts again
    const Millis window(std::max<int64_t>(1000, static_cast<int64_t>(ewma_ms_)));
    if (last_cut_ != SteadyTime{} && now - last_cut_ < window) return;  // the same refusal
    last_cut_ = now;
    refused_at_ = factor_;
    factor_ = std::max(kLowestFactor, factor_ * kCut);
    if (bucket_) bucket_->SetRateFactor(factor_);
    return;  // a refusal's latency says nothing of the work's
  }
  ewma_ms_ = ewma_ms_ == 0 ? ms : (1 - kAlpha) * ewma_ms_ + kAlpha * ms;
  lowest_ms_ = lowest_ms_ == 0 ? std::max(1.0, ms) : std::min(lowest_ms_, std::max(1.0, ms));
  if (factor_ < 1.0 && now - last_step_ >= kRecoverEvery) {
    const auto steps = (now - last_step_) / kRecoverEvery;
    last_step_ += steps * kRecoverEvery;
    const double below = 0.95 * refused_at_;  // fast up to here, never past it in one step
    for (int64_t i = 0; i < steps && factor_ < 1.0; ++i)
      factor_ = factor_ < below ? std::min(below, factor_ + kRecoverStep) : factor_ + kProbeStep;
    factor_ = std::min(1.0, factor_);
    if (bucket_) bucket_->SetRateFactor(factor_);
  }
}

int FlowControl::InFlight() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (rate_ <= 0) return std::min(cap_, kWithoutRate);
  // Before the first answer: a guess of 250 ms, what a remote across the internet takes.
  const double latency_s = (ewma_ms_ == 0 ? 250.0 : ewma_ms_) / 1000.0;
  double target = rate_ * share_ * factor_ * latency_s * kMargin;
  if (lowest_ms_ > 0 && ewma_ms_ > 2 * lowest_ms_)  // queueing at the remote: ease off
    target *= std::max(0.5, 2 * lowest_ms_ / ewma_ms_);
  return std::clamp(static_cast<int>(std::ceil(target)), 1, cap_);
}

void FlowControl::SetShare(double share) {
  std::lock_guard<std::mutex> lock(mu_);
  share_ = std::clamp(share, 0.001, 1.0);
}

double FlowControl::RateFactor() const {
  std::lock_guard<std::mutex> lock(mu_);
  return factor_;
}

double FlowControl::latency_ms() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ewma_ms_;
}

Result<HttpResponse> FlowControlStage::Send(HttpRequest& request) {
  const SteadyTime started = clock_.SteadyNow();
  flow_.CallStarted();
  auto result = next_->Send(request);
  flow_.CallEnded();
  if (!result.ok()) return result;  // no answer: nothing learnt of the remote's latency
  const SteadyTime now = clock_.SteadyNow();
  flow_.Observe(std::chrono::duration_cast<Millis>(now - started),
                classifier_(result) == Action::kRateLimited, now);
  return result;
}

void ConcurrencyLimitStage::SetLimit(int limit) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    limit_ = limit < 1 ? 1 : limit;
  }
  freed_.notify_all();
}

Result<HttpResponse> ConcurrencyLimitStage::Send(HttpRequest& request) {
  {
    std::unique_lock<std::mutex> lock(mu_);
    freed_.wait(lock, [&] { return running_ < limit_; });
    ++running_;
  }
  struct Leave {
    ConcurrencyLimitStage& stage;
    ~Leave() {
      {
        std::lock_guard<std::mutex> lock(stage.mu_);
        --stage.running_;
      }
      stage.freed_.notify_one();
    }
  } leave{*this};
  return next_->Send(request);
}

}  // namespace tandem::connector::http
