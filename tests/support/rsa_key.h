// A fresh RSA key pair in PEM, for JWT bearer tests (made with OpenSSL at test time, so no
// key is ever committed).
#pragma once

#include <string>

namespace tandem::testing {

struct RsaKeyPair {
  std::string private_pem;
  std::string public_pem;
};

RsaKeyPair GenerateRsaKeyPair(int bits = 2048);

}  // namespace tandem::testing
