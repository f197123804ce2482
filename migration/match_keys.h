// Step 7's matching keys: what makes two records the same customer when no id links them.
// Keys are normalized so that cosmetic differences do not hide a match ("ACME, Inc." and
// "Acme Inc" are one name; "https://www.acme.com/" and "acme.com" one domain), and are
// prefixed with their kind ("email:", "domain:", "name:"), strongest first.
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "util/json.h"

namespace tandem::migration {

// Case and accents folded, in any script Tandem's customers write names in: Latin letters to
// their base letter (ü and Ü to u, ß to ss, Æ to ae), Greek and Cyrillic capitals to lower
// case, combining accents dropped; punctuation outside ASCII becomes a space. Deterministic,
// locale-free.
std::string FoldForMatching(const std::string& text);
// Folded (FoldForMatching), letters and digits only (any other run of characters is one space),
// common legal suffixes dropped (inc, ltd, llc, gmbh, ...). "" when nothing is left.
std::string NormalizeName(const std::string& name);
// Trimmed and lower-cased; "" unless it looks like local@domain.tld.
std::string NormalizeEmail(const std::string& email);
// The host of a URL or bare domain, lower case, without "www."; "" when there is none.
std::string NormalizeDomain(const std::string& url_or_domain);

// A host that many customers share (a social network, a link shortener, a site builder's own
// host): never a company's identity. Subdomains of the social ones too; a site builder's
// subdomain (harbor.wixsite.com) is its customer's own.
bool IsSharedHost(const std::string& host);

// The keys of a customer in billing terms (the mapping's paths: name, email,
// custom.website), strongest first. The domain comes from the website, else from a
// business e-mail address (never from free-mail providers such as gmail.com), and never a
// shared host (IsSharedHost).
std::vector<std::string> CustomerKeys(const Json& payload);

// Valid UTF-8 (no overlong forms, no surrogates)? Else *bad_offset is the first bad byte.
bool IsValidUtf8(const std::string& text, size_t* bad_offset);

}  // namespace tandem::migration
