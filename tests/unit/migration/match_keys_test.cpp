#include "migration/match_keys.h"

#include <sstream>

#include <gtest/gtest.h>

#include "migration/progress.h"
#include "tests/fakes/fake_clock.h"

namespace tandem::migration {
namespace {

TEST(MatchKeys, NamesIgnoreCasePunctuationAndLegalSuffixes) {
  EXPECT_EQ(NormalizeName("ACME, Inc."), "acme");
  EXPECT_EQ(NormalizeName("  Acme   Inc "), "acme");
  EXPECT_EQ(NormalizeName("Acme Holdings GmbH & Co. KG"), "acme holdings");
  EXPECT_EQ(NormalizeName("Co"), "co");  // never the last word
  EXPECT_EQ(NormalizeName("Société Générale SA"), "societe generale");
  EXPECT_EQ(NormalizeName("--"), "");
}

// Case and accents fold beyond ASCII: one customer whichever way a system spelled it.
TEST(MatchKeys, NamesFoldUnicodeCaseAndAccents) {
  EXPECT_EQ(NormalizeName("Müller GmbH"), "muller");
  EXPECT_EQ(NormalizeName("MÜLLER GMBH"), "muller");
  EXPECT_EQ(NormalizeName("Mu\xCC\x88ller GmbH"), "muller");  // u + combining diaeresis
  EXPECT_EQ(NormalizeName("Straße AG"), NormalizeName("STRASSE AG"));
  EXPECT_EQ(NormalizeName("ÆRØ Ærøskøbing"), "aero aeroskobing");
  EXPECT_EQ(NormalizeName("ŁÓDŹ Sp"), "lodz sp");
  EXPECT_EQ(NormalizeName("ÇA VA Ça va"), "ca va ca va");
  EXPECT_EQ(NormalizeName("ООО РОМАШКА"), NormalizeName("ООО Ромашка"));  // Cyrillic
  EXPECT_EQ(NormalizeName("ΑΘΗΝΑ"), NormalizeName("Αθηνα"));              // Greek
  EXPECT_EQ(NormalizeName("Acme\xE2\x80\x94Nord"), "acme nord");          // an em dash separates
  EXPECT_NE(NormalizeName("Müller"), NormalizeName("Miller"));
  EXPECT_EQ(FoldForMatching("\xFF\xFE"), "\xFF\xFE") << "stray bytes stand for themselves";
}

TEST(MatchKeys, EmailsAndDomains) {
  EXPECT_EQ(NormalizeEmail(" Ann@Example.COM "), "ann@example.com");
  EXPECT_EQ(NormalizeEmail("ann@localhost"), "");
  EXPECT_EQ(NormalizeEmail("a@b@c.com"), "");
  EXPECT_EQ(NormalizeEmail("ann smith@example.com"), "");
  EXPECT_EQ(NormalizeDomain("https://www.Acme.com/about?x=1"), "acme.com");
  EXPECT_EQ(NormalizeDomain("acme.com:8080"), "acme.com");
  EXPECT_EQ(NormalizeDomain("acme"), "");
  EXPECT_EQ(NormalizeDomain("not a domain.com"), "");
}

TEST(MatchKeys, CustomerKeysStrongestFirst) {
  Json p = Json::MakeObject();
  p.Set("name", "Acme Ltd");
  p.Set("email", "Billing@Acme.com");
  Json meta = Json::MakeObject();
  meta.Set("website", "http://www.acme.com");
  p.Set("metadata", meta);
  EXPECT_EQ(CustomerKeys(p),
            (std::vector<std::string>{"email:billing@acme.com", "domain:acme.com", "name:acme"}));
  EXPECT_TRUE(CustomerKeys(Json::MakeObject()).empty());
}

// A page on a shared host (facebook.com/harborcafe, a link shortener) is nobody's identity:
// no domain key from it, nor from an e-mail address there; a site builder's subdomain is.
TEST(MatchKeys, SharedHostsAreNoCompanysDomain) {
  for (const char* shared : {"facebook.com", "m.facebook.com", "uk.linkedin.com", "bit.ly",
                             "wixsite.com", "sites.google.com", "linktr.ee"})
    EXPECT_TRUE(IsSharedHost(shared)) << shared;
  for (const char* own : {"acme.com", "harbor.wixsite.com", "notfacebook.com", "x.com.acme.de"})
    EXPECT_FALSE(IsSharedHost(own)) << own;
  auto keys = [](const std::string& name, const std::string& website, const std::string& email) {
    Json p = Json::MakeObject();
    p.Set("name", name);
    if (!email.empty()) p.Set("email", email);
    Json custom = Json::MakeObject();
    custom.Set("website", website);
    p.Set("custom", custom);
    return CustomerKeys(p);
  };
  EXPECT_EQ(keys("Harbor Cafe", "https://www.facebook.com/harborcafe", ""),
            (std::vector<std::string>{"name:harbor cafe"}));
  EXPECT_EQ(keys("Sunrise Bakery", "facebook.com/sunrisebakery", "hello@linkedin.com"),
            (std::vector<std::string>{"email:hello@linkedin.com", "name:sunrise bakery"}));
  EXPECT_EQ(keys("Harbor", "https://harbor.wixsite.com/home", ""),
            (std::vector<std::string>{"domain:harbor.wixsite.com", "name:harbor"}));
  EXPECT_EQ(keys("Acme", "", "ann@acme.com"),
            (std::vector<std::string>{"email:ann@acme.com", "domain:acme.com", "name:acme"}));
}

TEST(MatchKeys, Utf8Validation) {
  size_t at = 0;
  EXPECT_TRUE(IsValidUtf8("plain ascii", &at));
  EXPECT_TRUE(IsValidUtf8("Société \xF0\x9F\x98\x80", &at));
  EXPECT_FALSE(IsValidUtf8("ab\xC3\x28", &at));
  EXPECT_EQ(at, 2u);
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF", &at));      // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80", &at));  // a surrogate
  EXPECT_FALSE(IsValidUtf8("\xE2\x82", &at));      // cut short
  EXPECT_FALSE(IsValidUtf8("\xFF", &at));
}

TEST(Progress, TerminalRedrawsOneLineAndLogsArePeriodic) {
  testing::FakeClock clock;
  std::ostringstream tty;
  ProgressReporter bar(tty, true, clock);
  clock.Advance(std::chrono::seconds(10));
  bar.Update(30000, 100000, 2);
  EXPECT_EQ(tty.str(),
            "\r[#######.................]  30,000/100,000 rows  3,000 rows/s  ETA 0:23  2 failed"
            "\033[K");
  bar.Finish();
  EXPECT_EQ(tty.str().back(), '\n');

  std::ostringstream log;
  ProgressReporter plain(log, false, clock, std::chrono::seconds(10));
  clock.Advance(std::chrono::seconds(5));
  plain.Update(100, 1000, 0);  // too soon: nothing
  EXPECT_EQ(log.str(), "");
  clock.Advance(std::chrono::seconds(5));
  plain.Update(200, 1000, 0);
  EXPECT_EQ(log.str(), "progress: 200/1,000 rows  20 rows/s  ETA 0:40\n");
  plain.Update(1000, 1000, 0);  // the last line always
  EXPECT_NE(log.str().find("1,000/1,000 rows"), std::string::npos);
}

}  // namespace
}  // namespace tandem::migration
