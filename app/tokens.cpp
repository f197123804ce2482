#include "app/tokens.h"

#include <fstream>

#include "util/openssl_init.h"

#include <openssl/evp.h>

namespace tandem::app {

Result<std::string> NewApiToken() {
  std::ifstream urandom("/dev/urandom", std::ios::binary);
  unsigned char bytes[20];
  if (!urandom.read(reinterpret_cast<char*>(bytes), sizeof bytes))
    return Status::IoError("cannot read /dev/urandom");
  static const char* kHex = "0123456789abcdef";
  std::string token = "tdm_";
  for (unsigned char b : bytes) {
    token.push_back(kHex[b >> 4]);
    token.push_back(kHex[b & 15]);
  }
  return token;
}

std::string TokenHash(const std::string& token) {
  InitOpenSsl();
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(token.data(), token.size(), md, &len, EVP_sha256(), nullptr);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 15]);
  }
  return out;
}

}  // namespace tandem::app
