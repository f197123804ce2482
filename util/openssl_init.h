// OpenSSL's process-wide start, done once and before any thread uses it: without an atexit
// cleanup. OpenSSL's default cleanup at exit drops the per-thread state of threads that are
// still running then (cpprest's pool threads live until the process ends), so a thread still
// inside OpenSSL at exit would use freed memory, and the state it held is lost (LeakSanitizer
// reported 904-byte error-state blocks). The process ends; the OS takes the rest.
// Thread-safety: InitOpenSsl() may be called from any thread, any number of times.
#pragma once

namespace tandem {

void InitOpenSsl();

}  // namespace tandem
