// A free TCP port on loopback: bind port 0, read the port back, close. cpprest's listener
// cannot report the port it bound, so servers that must tell others their port pick one
// first. Another process could take it in between; callers fail clearly when it does.
// Thread-safety: a pure function (it makes a short-lived socket).
#pragma once

namespace tandem {

// Returns 0 when no socket could be bound.
int FreeLoopbackPort();

}  // namespace tandem
