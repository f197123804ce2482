#include "reconcile/revenue.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>

#include "connector/crm/soql.h"
#include "reconcile/money.h"
#include "util/log.h"

namespace tandem::reconcile {
namespace {

using connector::billing::Subscription;

constexpr char kInventory[] = "Service_Subscription__c";
constexpr char kAddOnObject[] = "Service_Add_On__c";
constexpr char kBillingSide[] = "revenue:billing";  // match keys: customer → subscription item
constexpr char kNoCurrency[] = "XXX";               // ISO 4217: no currency known anywhere

// Billing charges a subscription in these states; the CRM has it sold in these.
bool Charges(const std::string& billing_status) {
  return billing_status == "active" || billing_status == "past_due" || billing_status == "unpaid";
}
bool Sold(const std::string& crm_status) {
  return crm_status == "Active" || crm_status == "Past Due" || crm_status == "Unpaid";
}

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// What one line charges every `count` `interval`s, and that per month.
struct Line {
  std::string currency;  // upper case
  std::string interval;  // day | week | month | year ("" unknown)
  int64_t count = 1;
  int64_t quantity = 1;
  int64_t unit = 0;    // minor units
  int64_t amount = 0;  // per period: unit × quantity (or the CRM's total without a unit price)
  std::optional<int64_t> monthly;

  void Normalize() { monthly = MonthlyMinor(amount, interval, count); }
  bool SamePeriod(const Line& o) const { return interval == o.interval && count == o.count; }
  std::string Text() const {
    return std::to_string(quantity) + " x " + FormatMinor(unit, currency) + " " + currency + " / " +
           Period(interval, count);
  }
};

struct BilledItem {
  std::string id, price_id, catalog_price;
  Line line;
};

struct BilledSub {
  std::string id, status;
  std::vector<BilledItem> items;  // billing's order: the first is the base line
};

struct SoldAddOn {
  std::string crm_id, name, item_id, price_id;
  bool one_time = false;
  Line line;
};

struct SoldSub {
  std::string crm_id, name, status, billing_id, product_id;
  bool priced = false;  // the CRM has a sold price (records written before it kept one: not)
  Line base;
  std::vector<SoldAddOn> add_ons;
};

// One account being compared: its monthly totals per currency.
struct Account {
  std::string crm_id, customer_id;
  struct Totals {
    int64_t sold = 0, billed = 0;
  };
  std::map<std::string, Totals> totals;
  std::set<std::string> differing;  // currencies with a finding
};

// A finding --fix may repair: the work order that would, or why a person decides.
struct Repair {
  Finding finding;
  std::string refused;             // "" when the tasks below repair it
  std::string group;               // revenue:SUBSCRIPTION:LINE:SOLD VALUES
  std::vector<std::string> kinds;  // the tasks, in order
  Json payload;
  std::string key_prefix;  // once enqueued: tandem:GROUP:gN
};

// Pass 1's rows: one per item (a subscription without items: one row), keyed by customer, so
// pass 2 finds a page of customers' subscriptions with one store query. Small rows: the
// store indexes them whole.
std::vector<store::MatchKey> StoredRows(const Subscription& s) {
  std::vector<store::MatchKey> rows;
  auto row = [&](int64_t index, const connector::billing::SubscriptionItem* item) {
    Json::Array r = {s.id, s.status, index};
    if (item) {
      auto catalog = item->metadata.find("catalog_price");
      r.insert(r.end(),
               {item->id, item->price_id, catalog == item->metadata.end() ? "" : catalog->second,
                item->price.unit_amount_minor, item->price.currency, item->price.interval,
                static_cast<int64_t>(item->price.interval_count), item->quantity});
    }
    rows.push_back(store::MatchKey{s.account_id, Json(std::move(r)).Dump()});
  };
  if (s.items.empty()) row(-1, nullptr);
  for (size_t i = 0; i < s.items.size(); ++i) row(static_cast<int64_t>(i), &s.items[i]);
  return rows;
}

// The stored rows back as subscriptions, by customer and subscription id.
Result<std::map<std::string, std::map<std::string, BilledSub>>> BilledFromRows(
    const std::vector<store::MatchKey>& rows) {
  std::map<std::string, std::map<std::string, std::map<int64_t, BilledItem>>> items;
  std::map<std::string, std::map<std::string, BilledSub>> out;
  for (const auto& k : rows) {
    auto parsed = Json::Parse(k.ref);
    if (!parsed.ok()) return parsed.status().WithContext("stored billing subscription");
    const Json::Array& r = parsed->array();
    if (r.size() < 3) return Status::Corruption("stored billing subscription: " + k.ref);
    BilledSub& sub = out[k.key][r[0].as_string()];
    sub.id = r[0].as_string();
    sub.status = r[1].as_string();
    if (r.size() < 11) continue;
    BilledItem item;
    item.id = r[3].as_string();
    item.price_id = r[4].as_string();
    item.catalog_price = r[5].as_string();
    item.line.unit = r[6].as_int();
    item.line.currency = Upper(r[7].as_string());
    item.line.interval = NormalizeInterval(r[8].as_string());
    item.line.count = r[9].as_int(1);
    item.line.quantity = r[10].as_int(1);
    item.line.amount = item.line.unit * item.line.quantity;
    item.line.Normalize();
    items[k.key][sub.id][r[2].as_int()] = std::move(item);
  }
  for (auto& [customer, subs] : items)
    for (auto& [id, by_index] : subs)
      for (auto& [index, item] : by_index) out[customer][id].items.push_back(std::move(item));
  return out;
}

// The sold side of an inventory record and its add-ons. What the CRM leaves empty (records
// written before Tandem kept the period and currency) is taken from billing's base line.
SoldSub ReadSold(const Json& rec, const std::vector<Json>& add_ons, const BilledSub* billed) {
  const Line* billed_base =
      billed && !billed->items.empty() ? &billed->items.front().line : nullptr;
  SoldSub s;
  s.crm_id = rec["Id"].as_string();
  s.name = rec["Name"].ToText();
  s.status = rec["Status__c"].ToText();
  s.billing_id = rec["Billing_Subscription_Id__c"].ToText();
  s.product_id = rec["Product__c"].as_string();
  Line& b = s.base;
  b.currency = Upper(rec["Currency__c"].ToText());
  if (b.currency.empty()) b.currency = billed_base ? billed_base->currency : kNoCurrency;
  b.interval = NormalizeInterval(rec["Billing_Interval__c"].ToText());
  b.count = static_cast<int64_t>(rec["Billing_Interval_Count__c"].as_number(1));
  if (b.interval.empty()) {
    b.interval = billed_base ? billed_base->interval : "month";
    b.count = billed_base ? billed_base->count : 1;
  }
  b.quantity = std::llround(rec["Quantity__c"].as_number(1));
  if (rec["Unit_Price__c"].is_number()) {
    b.unit = ToMinor(rec["Unit_Price__c"].as_number(), b.currency);
    b.amount = b.unit * b.quantity;
    s.priced = true;
  } else if (rec["Recurring_Amount__c"].is_number()) {
    b.amount = ToMinor(rec["Recurring_Amount__c"].as_number(), b.currency);
    b.unit = b.quantity > 0 ? RoundDiv(b.amount, b.quantity) : b.amount;
    s.priced = true;
  }
  b.Normalize();
  for (const Json& a : add_ons) {
    SoldAddOn add_on;
    add_on.crm_id = a["Id"].as_string();
    add_on.name = a["Name"].ToText();
    add_on.item_id = a["Billing_Item_Id__c"].ToText();
    add_on.price_id = a["Billing_Price_Id__c"].ToText();
    add_on.one_time = a["Kind__c"].ToText() == "One-time";
    add_on.line = b;  // an add-on shares its subscription's period and currency
    add_on.line.quantity = std::llround(a["Quantity__c"].as_number(1));
    add_on.line.amount = ToMinor(a["Amount__c"].as_number(), b.currency);
    add_on.line.unit = add_on.line.quantity > 0 ? RoundDiv(add_on.line.amount, add_on.line.quantity)
                                                : add_on.line.amount;
    add_on.line.Normalize();
    s.add_ons.push_back(std::move(add_on));
  }
  return s;
}

std::string Direction(int64_t difference, const std::string& currency) {
  return (difference > 0 ? "under-billed by " : "over-billed by ") +
         FormatMinor(std::llabs(difference), currency) + " " + currency + " a month";
}

// The revenue reconciliation of one run.
class RevenueRun {
 public:
  RevenueRun(const actions::ActionDeps& deps, Report& report, const RunWorkOrders& run, bool fix,
             size_t batch)
      : deps_(deps), report_(report), run_work_orders_(run), fix_(fix), batch_(batch) {}

  Status Run();

 private:
  Status StoreBilling();
  Status WalkAccounts(const std::string& account_map);
  Status ComparePage(const std::vector<store::Link>& links);
  Status QueryIn(const std::string& object, const std::vector<std::string>& fields,
                 const std::string& field, const std::vector<std::string>& values,
                 const std::function<void(const Json&)>& on_record);
  Status CompareAccount(const store::Link& link, const std::vector<Json>& inventory,
                        const std::map<std::string, std::vector<Json>>& add_ons,
                        const std::map<std::string, BilledSub>& billed);
  Status CompareSubscription(Account* a, const SoldSub& s, const BilledSub* b);
  Status CompareLines(Account* a, const SoldSub& s, const BilledSub& b);
  Status CompareBase(Account* a, const SoldSub& s, const BilledSub& b);
  Status CompareAddOn(Account* a, const SoldSub& s, const BilledSub& b, const SoldAddOn& add_on);
  Status Whole(Account* a, const SoldSub* s, const BilledSub* b, const std::string& cause);
  Status CurrencySplit(Account* a, const SoldSub& s, const BilledSub& b, const std::string& field,
                       const Line& sold, const Line& billed);
  Status WriteTotals(const Account& a);

  // Counts a compared line in the account's totals.
  static void Tally(Account* a, const std::string& currency, int64_t sold, int64_t billed);
  // A finding of line `field` of subscription `s` / `b`, counted in the account's totals.
  static Finding Make(Account* a, const SoldSub* s, const BilledSub* b, const std::string& field,
                      const std::string& currency, int64_t sold, int64_t billed);
  // Reports it; with --fix and its kind allowed, keeps it for the page's repairs.
  Status Found(const Finding& f, Repair repair);
  Json Payload(const Account& a, const SoldSub& s, const BilledSub& b, const Line& sold,
               const std::string& price_id, const std::string& name) const;

  Status RunRepairs();
  Status Enqueue(Repair* r);
  Result<std::string> Outcome(const Repair& r);

  const actions::ActionDeps& deps_;
  Report& report_;
  const RunWorkOrders& run_work_orders_;
  const bool fix_;
  const size_t batch_;
  const mapping::ObjectMap* subscription_map_ = nullptr;
  std::string run_id_;
  std::vector<Repair> repairs_;  // the page's
  // For the summary's notes.
  int64_t compared_ = 0, unpriced_ = 0, unknown_period_ = 0, one_time_ = 0;
  std::map<std::string, int64_t> one_time_amounts_;
};

Status RevenueRun::Run() {
  const mapping::ObjectMap* account_map = nullptr;
  for (const auto& m : deps_.mapping.objects) {
    if (m.billing == "account" && m.crm == "Account" && !account_map) account_map = &m;
    if (m.billing == "subscription" && m.crm == kInventory && !subscription_map_)
      subscription_map_ = &m;
  }
  if (!account_map)
    return Status::InvalidArgument("the mapping has no customer map of Account: no accounts");
  run_id_ = "revenue:" + std::to_string(ToEpochMillis(deps_.clock.Now()));
  auto logger = log::Get("reconcile");
  logger->info("revenue: listing billing's subscriptions");
  Status st = StoreBilling();
  if (st.ok()) st = WalkAccounts(account_map->name);
  Status dropped = deps_.store.DropMatchKeys(run_id_);
  if (!dropped.ok()) logger->warn("dropping the run's working set: {}", dropped.ToString());
  report_.Note(kRevenue, "1",
               std::to_string(compared_) + " subscriptions compared, as monthly amounts");
  if (unpriced_ > 0)
    report_.Note(kRevenue, "2",
                 std::to_string(unpriced_) +
                     " not compared: the inventory record has no sold price (Unit_Price__c, "
                     "Recurring_Amount__c)");
  if (unknown_period_ > 0)
    report_.Note(kRevenue, "3",
                 std::to_string(unknown_period_) +
                     " lines not compared: a billing period other than day, week, month, year");
  if (one_time_ > 0) {
    std::string amounts;
    for (const auto& [currency, amount] : one_time_amounts_)
      amounts += (amounts.empty() ? "" : " + ") + FormatMinor(amount, currency) + " " + currency;
    report_.Note(kRevenue, "4",
                 std::to_string(one_time_) + " one-time fees (" + amounts +
                     ") sold: not monthly revenue, not compared (--object invoice checks what "
                     "was invoiced)");
  }
  return st;
}

// --- pass 1: billing's subscriptions into the store, by customer ---

Status RevenueRun::StoreBilling() {
  std::vector<store::MatchKey> page;
  auto flush = [&]() -> Status {
    Status st = deps_.store.AddMatchKeys(run_id_, kBillingSide, page);
    page.clear();
    return st;
  };
  TANDEM_RETURN_IF_ERROR(deps_.billing.ListSubscriptions([&](const Subscription& s) -> Status {
    for (auto& row : StoredRows(s)) page.push_back(std::move(row));
    return page.size() >= batch_ ? flush() : Status::Ok();
  }));
  return flush();
}

// --- pass 2: accounts, a page at a time ---

Status RevenueRun::WalkAccounts(const std::string& account_map) {
  std::string after;
  for (;;) {
    auto links = deps_.store.ListLinks(account_map, after, static_cast<int>(batch_));
    if (!links.ok()) return links.status();
    if (links->empty()) return Status::Ok();
    after = links->back().crm_id;
    TANDEM_RETURN_IF_ERROR(ComparePage(*links));
  }
}

Status RevenueRun::QueryIn(const std::string& object, const std::vector<std::string>& fields,
                           const std::string& field, const std::vector<std::string>& values,
                           const std::function<void(const Json&)>& on_record) {
  for (size_t start = 0; start < values.size(); start += batch_) {
    const std::vector<std::string> chunk(
        values.begin() + static_cast<long>(start),
        values.begin() + static_cast<long>(std::min(values.size(), start + batch_)));
    auto soql = connector::crm::SoqlBuilder(object, fields).WhereIn(field, chunk).Build();
    if (!soql.ok()) return soql.status();
    TANDEM_RETURN_IF_ERROR(deps_.crm.Query(*soql, [&](const Json& r) {
      on_record(r);
      return Status::Ok();
    }));
  }
  return Status::Ok();
}

Status RevenueRun::ComparePage(const std::vector<store::Link>& links) {
  std::vector<std::string> accounts, customers, subscriptions;
  for (const auto& l : links) {
    accounts.push_back(l.crm_id);
    customers.push_back(l.billing_id);
  }
  std::map<std::string, std::vector<Json>> inventory, add_ons;  // by account, by subscription
  TANDEM_RETURN_IF_ERROR(
      QueryIn(kInventory,
              {"Id", "Name", "Account__c", "Product__c", "Billing_Subscription_Id__c", "Status__c",
               "Quantity__c", "Unit_Price__c", "Recurring_Amount__c", "Currency__c",
               "Billing_Interval__c", "Billing_Interval_Count__c"},
              "Account__c", accounts, [&](const Json& r) {
                subscriptions.push_back(r["Id"].as_string());
                inventory[r["Account__c"].as_string()].push_back(r);
              }));
  TANDEM_RETURN_IF_ERROR(QueryIn(kAddOnObject,
                                 {"Id", "Name", "Subscription__c", "Billing_Item_Id__c",
                                  "Billing_Price_Id__c", "Kind__c", "Amount__c", "Quantity__c"},
                                 "Subscription__c", subscriptions, [&](const Json& r) {
                                   add_ons[r["Subscription__c"].as_string()].push_back(r);
                                 }));
  auto rows = deps_.store.FindMatchKeys(run_id_, kBillingSide, customers);
  if (!rows.ok()) return rows.status();
  auto billed = BilledFromRows(*rows);
  if (!billed.ok()) return billed.status();
  static const std::map<std::string, BilledSub> kNone;
  static const std::vector<Json> kNoInventory;
  for (const auto& l : links) {
    auto b = billed->find(l.billing_id);
    auto inv = inventory.find(l.crm_id);
    TANDEM_RETURN_IF_ERROR(CompareAccount(l, inv == inventory.end() ? kNoInventory : inv->second,
                                          add_ons, b == billed->end() ? kNone : b->second));
  }
  report_.Checked(kRevenue, static_cast<int64_t>(links.size()));
  return RunRepairs();
}

Status RevenueRun::CompareAccount(const store::Link& link, const std::vector<Json>& inventory,
                                  const std::map<std::string, std::vector<Json>>& add_ons,
                                  const std::map<std::string, BilledSub>& billed) {
  Account a{link.crm_id, link.billing_id, {}, {}};
  std::set<std::string> claimed;
  static const std::vector<Json> kNoAddOns;
  for (const Json& rec : inventory) {
    const std::string bid = rec["Billing_Subscription_Id__c"].ToText();
    if (!bid.empty()) claimed.insert(bid);
    auto b = billed.find(bid);
    auto ao = add_ons.find(rec["Id"].as_string());
    const SoldSub s = ReadSold(rec, ao == add_ons.end() ? kNoAddOns : ao->second,
                               b == billed.end() ? nullptr : &b->second);
    TANDEM_RETURN_IF_ERROR(CompareSubscription(&a, s, b == billed.end() ? nullptr : &b->second));
  }
  for (const auto& [id, b] : billed)
    if (!claimed.count(id) && Charges(b.status))
      TANDEM_RETURN_IF_ERROR(
          Whole(&a, nullptr, &b, "billed, but not in the CRM's service inventory"));
  return WriteTotals(a);
}

Status RevenueRun::CompareSubscription(Account* a, const SoldSub& s, const BilledSub* b) {
  const bool sold = Sold(s.status), charged = b && Charges(b->status);
  if (!sold && !charged) return Status::Ok();
  if (sold && !s.priced) {  // what was sold is unknown: nothing to compare billing with
    ++unpriced_;
    return Status::Ok();
  }
  ++compared_;
  if (sold)
    for (const auto& add_on : s.add_ons)
      if (add_on.one_time) {
        ++one_time_;
        one_time_amounts_[add_on.line.currency] += add_on.line.amount;
      }
  if (sold && charged) return CompareLines(a, s, *b);
  if (sold) {
    const std::string cause = s.billing_id.empty()
                                  ? "sold, never billed: the inventory record names no billing "
                                    "subscription"
                              : !b ? "billing subscription " + s.billing_id +
                                         " is not one of customer " + a->customer_id + "'s"
                                   : "billing does not charge it: its status is " + b->status +
                                         " (the CRM has " + s.status + ")";
    return Whole(a, &s, b, cause);
  }
  return Whole(
      a, &s, b,
      "billing charges it; the CRM has it " + (s.status.empty() ? "without status" : s.status));
}

// A whole subscription one side has and the other does not charge: its lines as one finding
// per currency. A person decides (start, cancel or record it).
Status RevenueRun::Whole(Account* a, const SoldSub* s, const BilledSub* b,
                         const std::string& cause) {
  std::map<std::string, std::pair<int64_t, int64_t>> by_currency;  // sold, billed
  const bool sold = s && Sold(s->status), charged = b && Charges(b->status);
  if (sold) {
    if (s->base.monthly) by_currency[s->base.currency].first += *s->base.monthly;
    for (const auto& add_on : s->add_ons)
      if (!add_on.one_time && add_on.line.monthly)
        by_currency[add_on.line.currency].first += *add_on.line.monthly;
  }
  if (charged)
    for (const auto& item : b->items)
      if (item.line.monthly) by_currency[item.line.currency].second += *item.line.monthly;
  for (const auto& [currency, amounts] : by_currency) {
    Finding f = Make(a, s, b, "subscription", currency, amounts.first, amounts.second);
    f.crm_value = s ? (s->status.empty() ? "no status" : s->status) + ", " +
                          FormatMinor(amounts.first, currency) + " " + currency + " a month"
                    : "";
    f.billing_value =
        b ? b->status + ", " + FormatMinor(amounts.second, currency) + " " + currency + " a month"
          : "";
    f.detail = cause + "; " + Direction(f.difference(), currency);
    if (f.difference() == 0) continue;
    Repair r;
    r.refused = "a person decides whether billing should charge this subscription";
    TANDEM_RETURN_IF_ERROR(Found(f, std::move(r)));
  }
  return Status::Ok();
}

Status RevenueRun::CompareLines(Account* a, const SoldSub& s, const BilledSub& b) {
  TANDEM_RETURN_IF_ERROR(CompareBase(a, s, b));
  std::set<std::string> named;  // the billing items the CRM's add-ons name
  for (const auto& add_on : s.add_ons) {
    named.insert(add_on.item_id);
    if (!add_on.one_time) TANDEM_RETURN_IF_ERROR(CompareAddOn(a, s, b, add_on));
  }
  for (size_t i = 1; i < b.items.size(); ++i) {
    const BilledItem& item = b.items[i];
    if (named.count(item.id) || !item.line.monthly) continue;
    Finding f = Make(a, &s, &b, "item " + item.id, item.line.currency, 0, *item.line.monthly);
    f.billing_value = item.line.Text();
    f.detail = "billed (price " + item.price_id + "); no add-on in the CRM names it; " +
               Direction(f.difference(), item.line.currency);
    Repair r;
    r.refused = "a person decides: the CRM may lack the add-on, or billing should not charge it";
    TANDEM_RETURN_IF_ERROR(Found(f, std::move(r)));
  }
  return Status::Ok();
}

Status RevenueRun::CompareBase(Account* a, const SoldSub& s, const BilledSub& b) {
  if (!s.base.monthly) {
    ++unknown_period_;
    return Status::Ok();
  }
  if (b.items.empty() || !b.items.front().line.monthly) {
    if (b.items.empty()) {
      Finding f = Make(a, &s, &b, "base", s.base.currency, *s.base.monthly, 0);
      f.crm_value = s.base.Text();
      f.detail = "billing's subscription has no items; " + Direction(f.difference(), f.currency);
      Repair r;
      r.refused = "a person decides: billing's subscription has nothing to re-price";
      return Found(f, std::move(r));
    }
    ++unknown_period_;
    return Status::Ok();
  }
  const BilledItem& item = b.items.front();
  const Line& sold = s.base;
  const Line& billed = item.line;
  if (sold.currency != billed.currency) return CurrencySplit(a, s, b, "base", sold, billed);
  if (*sold.monthly == *billed.monthly) {
    Tally(a, sold.currency, *sold.monthly, *billed.monthly);
    return Status::Ok();
  }
  Finding f = Make(a, &s, &b, "base", sold.currency, *sold.monthly, *billed.monthly);
  f.crm_value = sold.Text();
  f.billing_value = billed.Text();
  std::vector<std::string> causes;
  if (sold.unit != billed.unit)
    causes.push_back("price: sold " + FormatMinor(sold.unit, sold.currency) + " " + sold.currency +
                     " / " + Period(sold.interval, sold.count) + ", billed " +
                     FormatMinor(billed.unit, billed.currency) + " " + billed.currency + " / " +
                     Period(billed.interval, billed.count));
  if (sold.quantity != billed.quantity)
    causes.push_back("quantity: sold " + std::to_string(sold.quantity) + ", billed " +
                     std::to_string(billed.quantity));
  if (!sold.SamePeriod(billed))
    causes.push_back("period: sold " + Period(sold.interval, sold.count) + ", billed " +
                     Period(billed.interval, billed.count));
  for (const auto& c : causes) f.detail += c + "; ";
  f.detail += Direction(f.difference(), sold.currency);
  Repair r;
  if (!sold.SamePeriod(billed)) {
    r.refused = "the billing period differs: a person re-prices the subscription";
  } else {
    if (sold.unit != billed.unit) r.kinds.push_back("change_price");
    if (sold.quantity != billed.quantity) r.kinds.push_back("change_quantity");
    r.kinds.push_back("record_subscription");  // the CRM shows what billing charges now
    const std::string catalog = item.catalog_price.empty() ? item.price_id : item.catalog_price;
    r.payload = Payload(*a, s, b, sold, catalog, s.name);
    r.group = "revenue:" + b.id + ":base:" + std::to_string(sold.quantity) + "x" +
              std::to_string(sold.unit) + sold.currency;
  }
  return Found(f, std::move(r));
}

Status RevenueRun::CompareAddOn(Account* a, const SoldSub& s, const BilledSub& b,
                                const SoldAddOn& add_on) {
  const Line& sold = add_on.line;
  if (!sold.monthly) {
    ++unknown_period_;
    return Status::Ok();
  }
  const std::string field = "add-on " + add_on.name + " (" + add_on.crm_id + ")";
  const std::string fingerprint = "revenue:" + b.id + ":add_on:" + add_on.crm_id + ":" +
                                  std::to_string(sold.quantity) + "x" + std::to_string(sold.unit) +
                                  sold.currency;
  auto item = std::find_if(b.items.begin(), b.items.end(),
                           [&](const BilledItem& i) { return i.id == add_on.item_id; });
  if (item == b.items.end() && *sold.monthly == 0) return Status::Ok();  // removed on both sides
  if (item == b.items.end()) {
    Finding f = Make(a, &s, &b, field, sold.currency, *sold.monthly, 0);
    f.kind = kMissingAddOn;
    f.crm_value = sold.Text();
    f.detail = "add-on " + add_on.name + " is sold; billing does not charge it (item " +
               (add_on.item_id.empty() ? "none" : add_on.item_id) +
               " is not on the subscription); " + Direction(f.difference(), sold.currency);
    Repair r;
    if (add_on.price_id.empty()) {
      r.refused = "the add-on record names no billing price (Billing_Price_Id__c)";
    } else {
      r.kinds = {"add_add_on", "record_add_on"};
      r.payload = Payload(*a, s, b, sold, add_on.price_id, add_on.name);
      r.payload.Set("add_on_crm_id", add_on.crm_id);
      r.group = fingerprint;
    }
    return Found(f, std::move(r));
  }
  const Line& billed = item->line;
  if (!billed.monthly) {
    ++unknown_period_;
    return Status::Ok();
  }
  if (sold.currency != billed.currency) return CurrencySplit(a, s, b, field, sold, billed);
  if (*sold.monthly == *billed.monthly) {
    Tally(a, sold.currency, *sold.monthly, *billed.monthly);
    return Status::Ok();
  }
  Finding f = Make(a, &s, &b, field, sold.currency, *sold.monthly, *billed.monthly);
  f.crm_value = sold.Text();
  f.billing_value = billed.Text();
  if (sold.unit != billed.unit && sold.quantity != 0)
    f.detail += "price: sold " + FormatMinor(sold.unit, sold.currency) + " " + sold.currency +
                ", billed " + FormatMinor(billed.unit, sold.currency) + " " + sold.currency + "; ";
  if (sold.quantity != billed.quantity)
    f.detail += "quantity: sold " + std::to_string(sold.quantity) + ", billed " +
                std::to_string(billed.quantity) + "; ";
  if (!sold.SamePeriod(billed))
    f.detail += "period: sold " + Period(sold.interval, sold.count) + ", billed " +
                Period(billed.interval, billed.count) + "; ";
  f.detail += Direction(f.difference(), sold.currency);
  Repair r;
  if (sold.quantity == 0) {
    r.refused = "the CRM has the add-on removed: a Remove add-on order removes it in billing";
  } else if (sold.unit != billed.unit || !sold.SamePeriod(billed)) {
    r.refused = "the add-on's price differs: a Re-rate order re-prices it";
  } else {
    r.kinds = {"change_add_on"};
    r.payload = Payload(*a, s, b, sold, item->price_id, add_on.name);
    r.group = fingerprint;
  }
  return Found(f, std::move(r));
}

// Sold in one currency, billed in another: under-billed in the one, over-billed in the other.
Status RevenueRun::CurrencySplit(Account* a, const SoldSub& s, const BilledSub& b,
                                 const std::string& field, const Line& sold, const Line& billed) {
  for (const bool sold_side : {true, false}) {
    const Line& l = sold_side ? sold : billed;
    Finding f =
        Make(a, &s, &b, field, l.currency, sold_side ? *l.monthly : 0, sold_side ? 0 : *l.monthly);
    f.crm_value = sold.Text();
    f.billing_value = billed.Text();
    f.detail = "sold in " + sold.currency + ", billed in " + billed.currency + "; " +
               Direction(f.difference(), l.currency);
    Repair r;
    r.refused = "the currency differs: a person re-prices the subscription";
    TANDEM_RETURN_IF_ERROR(Found(f, std::move(r)));
  }
  return Status::Ok();
}

void RevenueRun::Tally(Account* a, const std::string& currency, int64_t sold, int64_t billed) {
  Account::Totals& t = a->totals[currency];
  t.sold += sold;
  t.billed += billed;
}

Finding RevenueRun::Make(Account* a, const SoldSub* s, const BilledSub* b, const std::string& field,
                         const std::string& currency, int64_t sold, int64_t billed) {
  Tally(a, currency, sold, billed);
  if (sold != billed) a->differing.insert(currency);
  Finding f{kRevenue,
            sold > billed ? kUnderBilled : kOverBilled,
            s ? s->crm_id : "",
            b ? b->id : "",
            field,
            "",
            "",
            "",
            ""};
  f.account_id = a->crm_id;
  f.customer_id = a->customer_id;
  f.currency = currency;
  f.sold_monthly = sold;
  f.billed_monthly = billed;
  return f;
}

Status RevenueRun::Found(const Finding& f, Repair repair) {
  TANDEM_RETURN_IF_ERROR(report_.Add(f));
  if (!fix_ || !subscription_map_ || !subscription_map_->repair.count(f.kind)) return Status::Ok();
  repair.finding = f;
  repairs_.push_back(std::move(repair));
  return Status::Ok();
}

Status RevenueRun::WriteTotals(const Account& a) {
  for (const auto& [currency, t] : a.totals) {
    if (t.sold == t.billed && !a.differing.count(currency)) continue;
    Finding f{kRevenue, kAccountTotal, a.crm_id, a.customer_id, "total", "", "", "", ""};
    f.account_id = a.crm_id;
    f.customer_id = a.customer_id;
    f.currency = currency;
    f.sold_monthly = t.sold;
    f.billed_monthly = t.billed;
    f.crm_value = FormatMinor(t.sold, currency) + " " + currency + " a month";
    f.billing_value = FormatMinor(t.billed, currency) + " " + currency + " a month";
    f.detail = "the account's monthly revenue in " + currency +
               (t.sold == t.billed ? ": its differences offset each other"
                                   : ": " + Direction(f.difference(), currency));
    TANDEM_RETURN_IF_ERROR(report_.AddAccountTotal(f));
  }
  return Status::Ok();
}

// What the work-order tasks read (workorders/tasks.cpp): the line as sold, in the CRM's major
// units, and the billing price the repair starts from.
Json RevenueRun::Payload(const Account& a, const SoldSub& s, const BilledSub& b, const Line& sold,
                         const std::string& price_id, const std::string& name) const {
  Json p = Json::MakeObject();
  p.Set("order_id", "");
  p.Set("order_number", "revenue reconcile");
  p.Set("account_id", a.crm_id);
  p.Set("effective_date", "");
  p.Set("operation", "revenue repair");
  p.Set("template", "Revenue repair");
  p.Set("item_id", "");
  p.Set("quantity", sold.quantity);
  const double unit = ToMajor(sold.unit, sold.currency);
  p.Set("unit_price", unit);
  p.Set("list_price", unit);  // a sold price: billing gets a price of its own when it differs
  p.Set("book_currency", sold.currency);
  p.Set("currency", sold.currency);
  p.Set("product_id", s.product_id);
  p.Set("product_name", name);
  p.Set("price_id", price_id);
  p.Set("term_months", 0);
  p.Set("subscription_crm_id", s.crm_id);
  p.Set("subscription_id", b.id);
  p.Set("subscription_end", "");
  p.Set("recurring_amount", 0);
  p.Set("planned_at", ToEpochMillis(deps_.clock.Now()) / 1000);
  return p;
}

// --- repairs: a work order per finding, run to its end ---

Status RevenueRun::RunRepairs() {
  std::vector<std::string> groups;
  for (auto& r : repairs_) {
    if (!r.refused.empty()) continue;
    TANDEM_RETURN_IF_ERROR(Enqueue(&r));
    groups.push_back(r.group);
  }
  if (!groups.empty() && run_work_orders_) TANDEM_RETURN_IF_ERROR(run_work_orders_(groups));
  for (const auto& r : repairs_) {
    std::string action = "not repaired: " + r.refused;
    if (r.refused.empty()) {
      auto outcome = Outcome(r);
      if (!outcome.ok()) return outcome.status();
      action = *outcome;
    }
    TANDEM_RETURN_IF_ERROR(report_.Resolve(r.finding, action));
  }
  repairs_.clear();
  return Status::Ok();
}

// The next generation of the work order's tasks, unless the last one is still under way (a
// rerun then adds nothing: the tasks in flight repair it).
Status RevenueRun::Enqueue(Repair* r) {
  auto tasks = deps_.store.TasksInGroup(r->group);
  if (!tasks.ok()) return tasks.status();
  const std::string base = "tandem:" + r->group + ":g";
  int last = 0;
  bool in_flight = false;
  for (const auto& t : *tasks) {
    if (t.key.compare(0, base.size(), base) != 0) continue;
    const int gen = std::atoi(t.key.c_str() + base.size());
    if (gen > last) in_flight = false;
    last = std::max(last, gen);
    if (gen == last && t.state != "done" && t.state != "failed") in_flight = true;
  }
  r->key_prefix = base + std::to_string(in_flight ? last : last + 1);
  if (in_flight) return Status::Ok();
  const int64_t now = ToEpochMillis(deps_.clock.Now());
  std::string previous;
  for (size_t i = 0; i < r->kinds.size(); ++i) {
    store::TaskSpec spec{r->key_prefix + ":" + std::to_string(i + 1) + ":" + r->kinds[i],
                         r->group,
                         r->kinds[i],
                         r->payload.Dump(),
                         previous,
                         5,
                         0};
    auto added = deps_.store.EnqueueTask(spec, now);
    if (!added.ok()) return added.status();
    previous = spec.key;
  }
  return Status::Ok();
}

Result<std::string> RevenueRun::Outcome(const Repair& r) {
  auto tasks = deps_.store.TasksInGroup(r.group);
  if (!tasks.ok()) return tasks.status();
  int total = 0, done = 0;
  for (const auto& t : *tasks) {
    if (t.key.compare(0, r.key_prefix.size() + 1, r.key_prefix + ":") != 0) continue;
    ++total;
    if (t.state == "failed") return "fix failed: " + t.kind + ": " + t.last_error;
    if (t.state == "done") ++done;
  }
  if (total > 0 && done == total) return std::string("fixed");
  return "queued: work order " + r.group + " (a work-order worker runs it)";
}

}  // namespace

RevenueReconciler::RevenueReconciler(actions::ActionDeps deps, Report& report,
                                     RunWorkOrders run_work_orders)
    : deps_(deps), report_(report), run_work_orders_(std::move(run_work_orders)) {}

Status RevenueReconciler::Run(bool fix, size_t batch) {
  RevenueRun run(deps_, report_, run_work_orders_, fix, batch == 0 ? 200 : batch);
  return run.Run();
}

}  // namespace tandem::reconcile
