#include "util/openssl_init.h"

#include <mutex>

#include <openssl/crypto.h>
#include <openssl/ssl.h>

namespace tandem {

void InitOpenSsl() {
  static std::once_flag once;
  std::call_once(once, [] {
    // The first initialisation decides whether the atexit handler is registered.
    OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT | OPENSSL_INIT_LOAD_CONFIG, nullptr);
    OPENSSL_init_ssl(OPENSSL_INIT_NO_ATEXIT, nullptr);
  });
}

}  // namespace tandem
