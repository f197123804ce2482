#include "mapping/mapping.h"

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

namespace tandem::mapping {
namespace {

// A describe answer, built field by field.
class DescribeBuilder {
 public:
  DescribeBuilder& Field(const std::string& name, const std::string& type,
                         std::vector<std::string> picklist = {}) {
    Json f = Json::MakeObject();
    f.Set("name", name);
    f.Set("type", type);
    Json values = Json::MakeArray();
    for (const auto& v : picklist) {
      Json p = Json::MakeObject();
      p.Set("value", v);
      values.Push(p);
    }
    f.Set("picklistValues", values);
    fields_.Push(f);
    return *this;
  }
  Json Build() const {
    Json d = Json::MakeObject();
    d.Set("fields", fields_);
    return d;
  }

 private:
  Json fields_ = Json::MakeArray();
};

// `record_types`: the org has record types for Account (so the object has RecordTypeId).
Json AccountDescribe(bool record_types = false) {
  DescribeBuilder b;
  if (record_types) b.Field("RecordTypeId", "reference");
  return b.Field("Id", "id")
      .Field("Name", "string")
      .Field("Phone", "phone")
      .Field("AnnualRevenue", "currency")
      .Field("CurrencyIsoCode", "picklist", {"USD", "JPY"})
      .Field("Type", "picklist", {"Prospect", "Partner", "Other"})
      .Field("IsActive__c", "boolean")
      .Field("Since__c", "date")
      .Field("Billing_Id__c", "string")
      .Build();
}

const char* kMapping = R"yaml(version: 1
objects:
  - name: account
    crm: Account
    billing: account
    link_fields:
      billing_id: Billing_Id__c
    fields:
      - crm: Name
        billing: name
        required: true
      - format: "{Name} ({Phone})"
        billing: description
      - crm: Phone
        billing: address.line1
      - crm: Type
        billing: custom.segment
        value_map: {"Prospect": prospect, "Partner": partner}
        default: other
      - crm: AnnualRevenue
        billing: custom.revenue_minor
        transform: money_to_minor
        currency: "{CurrencyIsoCode}"
      - crm: IsActive__c
        billing: custom.active
        transform: text
      - crm: Since__c
        billing: custom.since
        transform: date
      - constant: tandem
        billing: custom.source
        when: "Type != 'Prospect'"
)yaml";

Mapping Load(const std::string& text = kMapping) {
  auto m = ParseMapping(text, "mapping.yaml");
  EXPECT_TRUE(m.ok()) << m.status().message();
  return m.ok() ? *m : Mapping{};
}

Json Record() {
  Json r = Json::MakeObject();
  r.Set("Id", "001000000000001AAA");
  r.Set("Name", "Acme");
  r.Set("Phone", "555-0100");
  r.Set("Type", "Partner");
  r.Set("AnnualRevenue", 1234.565);
  r.Set("CurrencyIsoCode", "USD");
  r.Set("IsActive__c", true);
  r.Set("Since__c", "2026-03-01");
  return r;
}

TEST(Mapping, MapsRenamesNestingMetadataValueMapsFormatsAndMoney) {
  Mapping m = Load();
  ASSERT_EQ(m.objects.size(), 1u);
  Mapped out = ApplyToBilling(m.objects[0], Record());
  ASSERT_TRUE(out.ok()) << out.reason;
  EXPECT_EQ(
      out.payload.Dump(),
      R"j({"name":"Acme","description":"Acme (555-0100)","address":{"line1":"555-0100"},)j"
      R"j("custom":{"segment":"partner","revenue_minor":123457,"active":"true","since":"2026-03-01","source":"tandem"}})j");
  EXPECT_EQ(out.hash.size(), 16u);
}

TEST(Mapping, DefaultsConditionsAndEmptyFormatParts) {
  Mapping m = Load();
  Json r = Record();
  r.Set("Type", "Prospect");
  r.Set("Phone", nullptr);
  Mapped out = ApplyToBilling(m.objects[0], r);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out.payload["custom"]["segment"].as_string(), "prospect");
  EXPECT_FALSE(out.payload["custom"].Has("source"));  // when: Type != 'Prospect'
  EXPECT_EQ(out.payload["description"].as_string(), "Acme");
  r.Set("Type", "Other");
  EXPECT_EQ(ApplyToBilling(m.objects[0], r).payload["custom"]["segment"].as_string(), "other");
}

TEST(Mapping, ZeroDecimalCurrenciesAndTheHashFollowTheData) {
  Mapping m = Load();
  Json r = Record();
  r.Set("CurrencyIsoCode", "JPY");
  r.Set("AnnualRevenue", 5000);
  Mapped yen = ApplyToBilling(m.objects[0], r);
  EXPECT_EQ(yen.payload["custom"]["revenue_minor"].as_int(), 5000);
  EXPECT_EQ(ApplyToBilling(m.objects[0], r).hash, yen.hash);
  r.Set("Name", "Acme 2");
  EXPECT_NE(ApplyToBilling(m.objects[0], r).hash, yen.hash);
}

TEST(Mapping, ARecordThatCannotBeMappedFailsNamingTheField) {
  Mapping m = Load();
  Json r = Record();
  r.Set("Name", "");
  Mapped out = ApplyToBilling(m.objects[0], r);
  EXPECT_EQ(out.failed_field, "Name");
  EXPECT_NE(out.reason.find("required"), std::string::npos);
  r = Record();
  r.Set("Since__c", "01/03/2026");
  out = ApplyToBilling(m.objects[0], r);
  EXPECT_EQ(out.failed_field, "Since__c");
  EXPECT_NE(out.reason.find("not a date"), std::string::npos);
}

TEST(Mapping, DatesKeepTheirCalendarDayInEveryTimeZone) {
  Mapping m = Load();
  const char* old = std::getenv("TZ");
  const std::string saved = old ? old : "";
  for (const char* tz : {"Pacific/Kiritimati", "America/Adak", "UTC", "Asia/Kolkata"}) {
    setenv("TZ", tz, 1);
    tzset();
    Mapped out = ApplyToBilling(m.objects[0], Record());
    EXPECT_EQ(out.payload["custom"]["since"].as_string(), "2026-03-01") << tz;
  }
  FieldMap dt;
  dt.crm = "When";
  dt.billing = "cancel_at";
  dt.transform = "datetime";
  dt.direction = Direction::kBoth;
  ObjectMap om;
  om.fields = {dt};
  for (const char* tz : {"Pacific/Kiritimati", "America/Adak"}) {
    setenv("TZ", tz, 1);
    tzset();
    for (const char* when :
         {"2026-03-01T23:30:00-10:00", "2026-03-02T09:30:00Z", "2026-03-02T15:00:00+05:30"}) {
      Json r = Json::MakeObject();
      r.Set("When", when);
      Mapped out = ApplyToBilling(om, r);
      ASSERT_TRUE(out.ok()) << out.reason;
      EXPECT_EQ(out.payload["cancel_at"].as_int(), 1772443800) << when << " in " << tz;
      EXPECT_EQ(ApplyToCrm(om, out.payload)["When"].as_string(), "2026-03-02T09:30:00Z");
    }
    Json naive = Json::MakeObject();
    naive.Set("When", "2026-03-02T09:30:00");  // no zone: refused, never guessed
    EXPECT_FALSE(ApplyToBilling(om, naive).ok());
  }
  if (old)
    setenv("TZ", saved.c_str(), 1);
  else
    unsetenv("TZ");
  tzset();
}

TEST(Mapping, ToCrmReversesValueMapsAndMinorUnits) {
  FieldMap seg;
  seg.crm = "Type";
  seg.billing = "custom.segment";
  seg.direction = Direction::kBoth;
  seg.value_map = {{"Partner", "partner"}};
  FieldMap money;
  money.crm = "Balance__c";
  money.billing = "balance";
  money.direction = Direction::kToCrm;
  money.transform = "money_to_minor";
  money.currency = "USD";
  ObjectMap om;
  om.fields = {seg, money};
  Json payload = Json::MakeObject();
  SetPath(payload, "custom.segment", Json("partner"));
  payload.Set("balance", 12345);
  Json crm = ApplyToCrm(om, payload);
  EXPECT_EQ(crm["Type"].as_string(), "Partner");
  EXPECT_DOUBLE_EQ(crm["Balance__c"].as_number(), 123.45);
}

TEST(MappingFile, ParseErrorsNameFileLineAndKey) {
  auto m = ParseMapping(
      "objects:\n  - name: a\n    crm: Account\n    billing: account\n    fields:\n"
      "      - crm: Name\n        billng: name\n      - crm: Phone\n        billing: phone\n"
      "        transform: uppercase\n",
      "map.yaml");
  ASSERT_FALSE(m.ok());
  const std::string msg = m.status().message();
  EXPECT_NE(msg.find("map.yaml:7:9: objects[a].fields[0].billng: unknown key"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("objects[a].fields[0].billing: required"), std::string::npos) << msg;
  EXPECT_NE(
      msg.find("map.yaml:10:20: objects[a].fields[1].transform: unknown transform 'uppercase'"),
      std::string::npos)
      << msg;
  EXPECT_FALSE(ParseMapping("objects: [", "x.yaml").ok());
  EXPECT_NE(
      ParseMapping("objects:\n  - name: a\n    crm: A\n    billing: invoice_line\n    fields: []\n",
                   "x.yaml")
          .status()
          .message()
          .find("unknown billing object 'invoice_line'"),
      std::string::npos);
}

// A mapping written when Tandem spoke Stripe's words is refused with the new word for each,
// not loaded with paths that no longer reach billing.
TEST(MappingFile, StripeNamesOfTheFirstVersionAreRefusedWithTheirNewNames) {
  auto m = ParseMapping(
      "objects:\n  - name: a\n    crm: Account\n    billing: customer\n    fields:\n"
      "      - crm: Website\n        billing: metadata[website]\n"
      "  - name: f\n    crm: OrderItem\n    billing: invoiceitem\n    fields: []\n",
      "old.yaml");
  ASSERT_FALSE(m.ok());
  const std::string msg = m.status().message();
  EXPECT_NE(msg.find("old.yaml:4:14: objects[a].billing: 'customer' is now called 'account'"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("objects[a].fields[0].billing: 'metadata[website]' is now written "
                     "'custom.website'"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("objects[f].billing: 'invoiceitem' is now called 'charge'"), std::string::npos)
      << msg;
}

TEST(MappingFile, ValidationFindsUnknownFieldsTypeMismatchesUnmappedPicklistValuesAndMissingNames) {
  auto m = ParseMapping(R"(objects:
  - name: account
    crm: Account
    billing: account
    fields:
      - crm: Nmae
        billing: name
      - crm: Phone
        billing: custom.rev
        transform: money_to_minor
        currency: USD
      - crm: Type
        billing: custom.segment
        value_map: {"Prospect": p}
      - crm: IsActive__c
        billing: description
      - crm: Phone
        billing: adress.city
  - name: broken
    crm: Nope
    billing: account
    fields:
      - crm: Name
        billing: description
)",
                        "m.yaml");
  ASSERT_TRUE(m.ok()) << m.status().message();
  auto errors = Validate(*m, {{"Account", AccountDescribe()}});
  std::string all;
  for (const auto& e : errors) all += e + "\n";
  EXPECT_NE(all.find("m.yaml:6: objects[account].fields[0]: unknown Account field 'Nmae'"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("m.yaml:8: objects[account].fields[1].transform: money_to_minor needs a "
                     "number field; Phone is phone"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("picklist value 'Partner' of Type has no billing value"), std::string::npos)
      << all;
  EXPECT_NE(all.find("picklist value 'Other' of Type"), std::string::npos) << all;
  EXPECT_NE(all.find("IsActive__c is boolean"), std::string::npos) << all;
  EXPECT_NE(all.find("unknown account field 'adress.city'"), std::string::npos) << all;
  EXPECT_NE(all.find("objects[broken]: the CRM has no object 'Nope'"), std::string::npos) << all;
  EXPECT_EQ(errors.size(), 7u) << all;
  EXPECT_TRUE(Validate(Load(), {{"Account", AccountDescribe()}}).empty());
}

TEST(MappingFile, RepairListsNameWhatReconcileMayFixAndRefuseUnknownKinds) {
  const std::string head = "objects:\n  - name: a\n    crm: Account\n    billing: account\n";
  auto ok = ParseMapping(head + "    repair: [field_drift, unlinked]\n    fields: []\n", "m.yaml");
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(ok->objects[0].repair, (std::set<std::string>{"field_drift", "unlinked"}));
  auto none = ParseMapping(head + "    fields: []\n", "m.yaml");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->objects[0].repair.empty());  // reconcile only reports
  auto bad = ParseMapping(head + "    repair: [field_drift, delete_everything]\n    fields: []\n",
                          "m.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find(
                "m.yaml:5:27: objects[a].repair[1]: unknown repair 'delete_everything'"),
            std::string::npos)
      << bad.status().message();
}

TEST(MappingFile, SyncOnChangeAndEligibilityAreReadAndCheckedWhereTheyStand) {
  const std::string head = "objects:\n  - name: a\n    crm: Account\n    billing: account\n";
  auto ok =
      ParseMapping(head +
                       "    sync: on_change\n    eligible:\n      when: \"Type == 'Customer'\"\n"
                       "      since: 2026-01-01\n    fields: []\n",
                   "m.yaml");
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_TRUE(ok->objects[0].sync_on_change);
  EXPECT_EQ(ok->objects[0].eligible_when, "Type == 'Customer'");
  EXPECT_EQ(ok->objects[0].eligible_since, "2026-01-01");
  EXPECT_FALSE(ParseMapping(head + "    fields: []\n", "m.yaml")->objects[0].sync_on_change);
  auto bad = ParseMapping(head +
                              "    sync: always\n    eligible:\n      when: Type is great\n"
                              "      since: last year\n      owner: me\n    fields: []\n",
                          "m.yaml");
  ASSERT_FALSE(bad.ok());
  const std::string m = bad.status().message();
  EXPECT_NE(m.find("m.yaml:5:11: objects[a].sync: expected manual or on_change, got 'always'"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("objects[a].eligible.when: expected"), std::string::npos) << m;
  EXPECT_NE(m.find("objects[a].eligible.since: expected a date YYYY-MM-DD, got 'last year'"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("objects[a].eligible.owner: unknown key"), std::string::npos) << m;
}

// Record types by developer name: read in order; a name that could not be one is refused where
// it stands; and an object without record types in the org (no RecordTypeId), or a condition on
// a field the object lacks, is found against the CRM's describe before any poll runs.
TEST(MappingFile, EligibleRecordTypesAreDeveloperNamesTheCrmObjectMustHave) {
  const std::string head = "objects:\n  - name: a\n    crm: Account\n    billing: account\n";
  auto ok = ParseMapping(head +
                             "    eligible:\n      record_types: [Business, Wholesale_EU]\n"
                             "      when: Nickname__c is set\n    fields: []\n",
                         "m.yaml");
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(ok->objects[0].eligible_record_types,
            (std::vector<std::string>{"Business", "Wholesale_EU"}));
  const auto errors = Validate(*ok, {{"Account", AccountDescribe()}});
  std::string all;
  for (const auto& e : errors) all += e + "\n";
  EXPECT_NE(all.find("objects[a].eligible.record_types: Account has no record types in this org"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("objects[a].eligible.when: unknown Account field 'Nickname__c'"),
            std::string::npos)
      << all;
  ok->objects[0].eligible_when = "Type == 'Partner'";
  for (const auto& e : Validate(*ok, {{"Account", AccountDescribe(/*record_types=*/true)}}))
    EXPECT_EQ(e.find("eligible"), std::string::npos) << e;

  auto bad = ParseMapping(head +
                              "    eligible:\n      record_types: [\"x' OR Name != '\", 2Fast, "
                              "A__b]\n    fields: []\n",
                          "m.yaml");
  ASSERT_FALSE(bad.ok());
  const std::string m = bad.status().message();
  EXPECT_NE(
      m.find("eligible.record_types[0]: 'x' OR Name != '' is not a record type developer name"),
      std::string::npos)
      << m;
  EXPECT_NE(m.find("eligible.record_types[1]: '2Fast' is not"), std::string::npos) << m;
  EXPECT_NE(m.find("eligible.record_types[2]: 'A__b' is not"), std::string::npos) << m;
  EXPECT_FALSE(
      ParseMapping(head + "    eligible:\n      record_types: Business\n    fields: []\n", "m.yaml")
          .ok());
}

TEST(Mapping, ConditionsReadTheirFieldAndHoldOrNot) {
  Json r = Json::MakeObject();
  r.Set("Type", "Customer");
  EXPECT_EQ(ConditionField("Type == 'Customer'"), "Type");
  EXPECT_EQ(ConditionField("Email is set"), "Email");
  EXPECT_EQ(ConditionField("nonsense"), "");
  EXPECT_TRUE(ConditionHolds("Type == 'Customer'", r));
  EXPECT_FALSE(ConditionHolds("Type != 'Customer'", r));
  EXPECT_FALSE(ConditionHolds("Email is set", r));
  EXPECT_TRUE(ConditionHolds("", r));
}

// Issue 14 item 6: no decorative keys. A work order sets a subscription's items, dates and
// term from the order's lines, so an order map may put only metadata on it.
TEST(MappingFile, AnOrderMapThatClaimsASubscriptionsDatesIsRefused) {
  auto m = ParseMapping(R"(objects:
  - name: order
    crm: Order
    billing: subscription
    fields:
      - crm: Name
        billing: custom.order_name
      - crm: Since__c
        billing: start_at
        transform: datetime
)",
                        "m.yaml");
  ASSERT_TRUE(m.ok()) << m.status().message();
  Json order =
      DescribeBuilder().Field("Id", "id").Field("Name", "string").Field("Since__c", "date").Build();
  auto errors = Validate(*m, {{"Order", order}});
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("m.yaml:8: objects[order].fields[1].billing: a subscription takes "
                           "only custom.* fields from the CRM"),
            std::string::npos)
      << errors[0];
}

// The money-level kinds of `reconcile --object revenue` repair subscriptions: elsewhere they
// would do nothing, so they are refused there.
TEST(MappingFile, RevenueRepairsBelongOnTheSubscriptionMap) {
  const std::string sub =
      "objects:\n  - name: s\n    crm: Service_Subscription__c\n    billing: subscription\n";
  auto ok = ParseMapping(sub +
                             "    repair: [under_billed, over_billed, missing_add_on]\n"
                             "    fields: []\n",
                         "m.yaml");
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(ok->objects[0].repair,
            (std::set<std::string>{"under_billed", "over_billed", "missing_add_on"}));
  const std::string account = "objects:\n  - name: a\n    crm: Account\n    billing: account\n";
  auto bad = ParseMapping(account + "    repair: [under_billed]\n    fields: []\n", "m.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'under_billed' is a revenue repair: it belongs on the "
                                        "subscription map"),
            std::string::npos)
      << bad.status().message();
}

TEST(MappingFile, TheShippedDefaultParses) {
  std::ifstream in(std::string(TANDEM_SOURCE_DIR) + "/config/mapping.yaml");
  std::stringstream ss;
  ss << in.rdbuf();
  auto m = ParseMapping(ss.str(), "config/mapping.yaml");
  ASSERT_TRUE(m.ok()) << m.status().message();
  for (const char* name : {"account", "contact", "product", "subscription", "order"})
    EXPECT_NE(m->Find(name), nullptr) << name;
  const auto fields = CrmFieldsToRead(*m->Find("account"));
  EXPECT_NE(std::find(fields.begin(), fields.end(), "CurrencyIsoCode"), fields.end());
  EXPECT_NE(std::find(fields.begin(), fields.end(), "Billing_Id__c"), fields.end());
}

// An admin deploys the SFDX project in salesforce/; the sandbox is what the tests run against.
// Every custom field and object the sandbox has (but its own test fields) must have its
// metadata file there, or Tandem works in tests and fails in a real org. (The package test,
// salesforce/tests/package_test.js, checks that the converted package lists every file.)
TEST(SalesforcePackage, ListsEveryCustomFieldAndObjectTandemUses) {
  auto slurp = [](const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  const std::string root = std::string(TANDEM_SOURCE_DIR) + "/salesforce/force-app/main/default";
  auto schema =
      Json::Parse(slurp(std::string(TANDEM_SOURCE_DIR) + "/sandbox/salesforce/schema.json"));
  ASSERT_TRUE(schema.ok());
  int fields = 0;
  for (const auto& o : (*schema)["objects"].array()) {
    const std::string object = o["name"].as_string();
    const bool custom_object = object.size() > 3 && object.substr(object.size() - 3) == "__c";
    if (custom_object) {
      EXPECT_FALSE(slurp(root + "/objects/" + object + "/" + object + ".object-meta.xml").empty())
          << object;
    }
    for (const auto& f : o["fields"].array()) {
      const std::string name = f["name"].as_string();
      if (name.size() < 3 || name.substr(name.size() - 3) != "__c") continue;
      const std::string member = object + "." + name;
      if (member == "Account.Ext__c" || member == "Account.IsActive__c") continue;  // test-only
      ++fields;
      EXPECT_NE(slurp(root + "/objects/" + object + "/fields/" + name + ".field-meta.xml")
                    .find("<fullName>" + name + "</fullName>"),
                std::string::npos)
          << member;
    }
  }
  EXPECT_GT(fields, 50);
}

}  // namespace
}  // namespace tandem::mapping
