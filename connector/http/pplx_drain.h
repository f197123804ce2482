// Waiting for cpprest's asynchronous work before the process ends. cpprest chains its work as
// pplx tasks on a thread pool; a chain still queued when the process exits is never run, and
// pplx frees a chain only by running it (its tasks hold each other), so it is lost then
// (LeakSanitizer reports it, more often the busier the CPU). InstallPplxTracking() puts a
// counting scheduler in front of pplx's own; WaitForPplxIdle() waits until every scheduled
// task has run. `tandem` calls both around a command; the test binaries, around all tests.
// Thread-safety: both may be called from any thread; install before starting cpprest work.
#pragma once

#include "util/clock.h"

namespace tandem::connector::http {

void InstallPplxTracking();
// True when no tracked task was pending or running for a moment; false at the timeout.
bool WaitForPplxIdle(Millis timeout);

}  // namespace tandem::connector::http
