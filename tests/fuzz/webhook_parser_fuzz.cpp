// libFuzzer target: a forged or garbled webhook (body and Stripe-Signature header) must be
// refused or parsed, never crash. The input is "header\npayload".
#include <cstddef>
#include <cstdint>
#include <string>

#include "connector/billing/stripe/stripe_wire.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t newline = input.find('\n');
  const std::string header = newline == std::string::npos ? input : input.substr(0, newline);
  const std::string payload = newline == std::string::npos ? "" : input.substr(newline + 1);
  namespace stripe = tandem::connector::billing::stripe;
  (void)stripe::VerifySignature(payload, header, "whsec_fuzz", 1767225600, 300);
  (void)stripe::ParseEvent(payload);
  return 0;
}
