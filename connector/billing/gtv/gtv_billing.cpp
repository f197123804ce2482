#include "connector/billing/gtv/gtv_billing.h"

#include <unistd.h>

#include <algorithm>
#include <random>
#include <thread>

#include "connector/billing/gtv/gtv_internal.h"
#include "connector/billing/gtv/gtv_paths.h"
#include "connector/billing/gtv/gtv_wire.h"
#include "connector/http/form.h"
#include "util/ascii.h"
#include "util/log.h"
#include "util/money_units.h"

namespace tandem::connector::billing::gtv {
using P = GtvPaths;

namespace {

// Unique among processes, containers included (where every process may be pid 1): the host
// name, the pid and 64 random bits.
std::string HolderPrefix() {
  char host[256] = {};
  (void)::gethostname(host, sizeof host - 1);
  std::random_device random;
  return std::string(host) + "-" + std::to_string(::getpid()) + "-" +
         std::to_string((uint64_t{random()} << 32) | random()) + "-";
}

// A closed account (deactivated: taken back by `migrate undo`, or ended) is nobody's now: a
// new create for its CRM id makes a new account.
bool IsOpen(const Json& account) { return !AccountFromJson(account).closed; }

}  // namespace

GtvBilling::GtvBilling(GtvOptions options, http::RestClient& rest, const Clock& clock,
                       Sleeper& sleeper)
    : options_(std::move(options)),
      rest_(rest),
      clock_(clock),
      sleeper_(sleeper),
      key_lock_(options_.key_lock ? *options_.key_lock : local_lock_),
      holder_prefix_(HolderPrefix()) {}

std::string GtvBilling::RecordUrl(const std::string& kind, const std::string& id) const {
  static const std::map<std::string, std::string> kPaths = {
      {"customer", "billing-accounts"}, {"account", "billing-accounts"},
      {"subscription", "orders"},       {"invoice", "invoices"},
      {"product", "products"},          {"price", "product-prices"}};
  auto it = kPaths.find(kind);
  return options_.ui_url + "/" + (it == kPaths.end() ? kind : it->second) + "/" + id;
}

// ---------------------------------------------------------------- transport

Result<Json> GtvBilling::Call(const std::string& method, const std::string& path,
                              const Json* body) {
  http::HttpRequest req;
  req.method = method;
  req.path = path;
  if (body) {
    req.body = body->Dump();
    http::SetHeader(req.headers, "Content-Type", "application/json");
  }
  http::SetHeader(req.headers, "Accept", "application/json");
  auto resp = rest_.Send(std::move(req));
  if (!resp.ok()) return resp.status();
  if (!resp->ok())
    return ErrorStatus(resp->status, resp->body,
                       "gotransverse " + method + " " + path.substr(0, path.find('?')));
  if (resp->body.empty()) return Json::MakeObject();
  return Json::Parse(resp->body);
}

Status GtvBilling::ListAll(const std::string& path,
                           const std::function<Status(const Json&)>& on_item, int64_t* pages) {
  const char sep = path.find('?') == std::string::npos ? '?' : '&';
  for (int page = 1;; ++page) {
    auto list = Get(path + sep + "page_size=50&page_number=" + std::to_string(page));
    if (!list.ok()) return list.status();
    if (pages) ++*pages;
    if (!list->is_array())
      return Status::RemoteError("gotransverse GET " + path + ": expected a JSON array");
    for (const auto& item : list->array()) TANDEM_RETURN_IF_ERROR(on_item(item));
    // A short page is the last; the count headers are not relied on (spelled differently
    // across GTV's services).
    if (list->size() < 50) return Status::Ok();
  }
}

Result<std::optional<Json>> GtvBilling::FindOne(const std::string& path, const std::string& what,
                                                const std::function<bool(const Json&)>& keep) {
  std::vector<Json> found;
  TANDEM_RETURN_IF_ERROR(ListAll(path, [&](const Json& j) {
    if (!keep || keep(j)) found.push_back(j);
    return Status::Ok();
  }));
  if (found.size() > 1)
    return Status::Conflict("gotransverse: " + std::to_string(found.size()) + " " + what +
                            " where one was expected; resolve in GTV");
  if (found.empty()) return std::optional<Json>();
  return std::optional<Json>(found.front());
}

Status GtvBilling::Lock(const std::string& key, const std::string& holder) {
  const auto give_up = clock_.SteadyNow() + options_.key_lease;
  for (;;) {
    auto taken = key_lock_.TryLock(key, holder, options_.key_lease);
    // The store failing is worth a retry of the whole create, as a remote's failure is.
    if (!taken.ok())
      return Status::Unavailable("gotransverse: locking " + key + ": " + taken.status().ToString());
    if (*taken) return Status::Ok();
    if (clock_.SteadyNow() > give_up)
      return Status::Unavailable("gotransverse: another Tandem worker is creating " + key +
                                 "; try again");
    sleeper_.Sleep(Millis(100));
    std::this_thread::yield();  // a test's sleeper does not sleep
  }
}

Result<Json> GtvBilling::CreateOnce(const std::string& what,
                                    const std::function<Result<std::optional<Json>>()>& lookup,
                                    const std::function<Result<Json>()>& create) {
  const std::string key = "gotransverse " + what;
  const std::string holder = holder_prefix_ + std::to_string(++holders_);
  struct Unlock {
    KeyLock& lock;
    const std::string &key, &holder;
    ~Unlock() { (void)lock.Unlock(key, holder); }
  } unlock{key_lock_, key, holder};
  Status last = Status::Internal("not tried");
  for (int attempt = 1; attempt <= std::max(1, options_.max_attempts); ++attempt) {
    // Taken (or renewed) before each attempt's look-up.
    if (Status held = Lock(key, holder); !held.ok()) return attempt == 1 ? held : last;
    auto found = lookup();
    if (!found.ok()) {
      if (!Ambiguous(found.status())) return found.status();
      last = found.status();
    } else if (found->has_value()) {
      return **found;
    } else {
      // Renewed once more just before the create: a look-up slowed by retries may have
      // outlived the lease, and another holder may have created since; then look again.
      auto still = key_lock_.TryLock(key, holder, options_.key_lease);
      if (still.ok() && !*still) {
        last = Status::Unavailable("gotransverse: the lock on " + key + " was lost; looking again");
        continue;
      }
      auto made = create();
      if (made.ok() || !Ambiguous(made.status())) return made;
      last = made.status();
      log::Get("billing")->info("gotransverse: {} may have been made ({}); looking before again",
                                what, last.ToString());
    }
    sleeper_.Sleep(Millis(250LL << std::min(attempt - 1, 6)));
  }
  return last;
}

// ---------------------------------------------------------------- custom fields

Result<std::string> GtvBilling::CustomFieldId(const std::string& type, const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!custom_fields_read_[type]) {
    std::map<std::string, std::string> ids;
    Status st =
        ListAll(std::string(P::kCustomFields) + "?" + Query({{"custom_field_value_type", type}}),
                [&](const Json& f) {
                  ids[type + "/" + f["name"].as_string()] = f["id"].as_string();
                  return Status::Ok();
                });
    if (!st.ok()) return st;
    custom_field_ids_.insert(ids.begin(), ids.end());
    custom_fields_read_[type] = true;
  }
  auto it = custom_field_ids_.find(type + "/" + name);
  if (it == custom_field_ids_.end())
    return Status::InvalidArgument("gotransverse has no " + type + " custom field '" + name +
                                   "': define it in GTV (custom fields) or remove it from the "
                                   "mapping (docs/gotransverse.md)");
  return it->second;
}

Result<Json> GtvBilling::CustomFieldValues(const std::string& type, const Metadata& values,
                                           const std::vector<std::string>& clear) {
  Json out = Json::MakeArray();
  for (const auto& [name, value] : values) {
    auto id = CustomFieldId(type, name);
    if (!id.ok()) return id.status();
    Json cv = Json::MakeObject();
    cv.Set("custom_field", Ref(*id));
    cv.Set("value", value);
    out.Push(cv);
  }
  for (const auto& name : clear) {
    auto id = CustomFieldId(type, name);
    if (!id.ok()) return id.status();
    Json cv = Json::MakeObject();
    cv.Set("custom_field", Ref(*id));
    cv.Set("value", Json());
    out.Push(cv);
  }
  return out;
}

// ---------------------------------------------------------------- accounts

Result<GtvBilling::Reference> GtvBilling::ReferenceData() {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t now = ToEpochMillis(clock_.Now());
  if (reference_read_ms_ > 0 && now - reference_read_ms_ < 10 * 60'000) return reference_;
  Reference fresh;
  TANDEM_RETURN_IF_ERROR(ListAll(P::kBillCycles, [&](const Json& c) {
    fresh.cycles.push_back(c);
    return Status::Ok();
  }));
  TANDEM_RETURN_IF_ERROR(ListAll(P::kAccountCategories, [&](const Json& c) {
    fresh.categories.push_back(c);
    return Status::Ok();
  }));
  reference_ = std::move(fresh);
  reference_read_ms_ = now;
  return reference_;
}

Result<Json> GtvBilling::AccountBody(const BillingAccount& a, const Json* current) {
  Json body = Json::MakeObject();
  Json party = Json::MakeObject();
  party.Set("party_type", "organization");
  if (!a.name.empty()) party.Set("organization_name", a.name);
  Json addresses = Json::MakeArray();
  std::vector<std::string> clear_custom;
  bool clear_phone = false, clear_email = false;
  std::vector<std::string> clear_postal;
  // A new account has nothing to clear: the clears are for an update.
  for (const auto& path : current ? a.clear : std::vector<std::string>{}) {
    if (path == "phone")
      clear_phone = true;
    else if (path == "email")
      clear_email = true;
    else if (path.rfind("custom.", 0) == 0)
      clear_custom.push_back(path.substr(7));
    else if (path.rfind("address.", 0) == 0)
      clear_postal.push_back(path.substr(8));
  }
  if (!a.email.empty() || clear_email) {
    Json e = Json::MakeObject();
    e.Set("address_type", "email");
    e.Set("purpose", "PRIMARY");
    e.Set("email", a.email);
    addresses.Push(e);
  }
  if (!a.phone.empty() || clear_phone) {
    Json t = Json::MakeObject();
    t.Set("address_type", "telecom");
    t.Set("purpose", "PRIMARY");
    t.Set("number", a.phone);
    addresses.Push(t);
  }
  // GTV replaces a postal address whole: start from the current one, change what was asked.
  Address postal;
  bool postal_current = false;
  if (current) {
    const BillingAccount now = AccountFromJson(*current);
    postal = now.address;
    postal_current = !(postal.line1.empty() && postal.city.empty() && postal.country.empty() &&
                       postal.postal_code.empty() && postal.state.empty() && postal.line2.empty());
  }
  const Address& want = a.address;
  bool postal_changed = false;
  auto take = [&](std::string* field, const std::string& value, const char* name) {
    if (!value.empty() && *field != value) {
      *field = value;
      postal_changed = true;
    }
    if (std::find(clear_postal.begin(), clear_postal.end(), name) != clear_postal.end() &&
        !field->empty()) {
      field->clear();
      postal_changed = true;
    }
  };
  take(&postal.line1, want.line1, "line1");
  take(&postal.line2, want.line2, "line2");
  take(&postal.city, want.city, "city");
  take(&postal.state, want.state, "state");
  take(&postal.postal_code, want.postal_code, "postal_code");
  take(&postal.country, want.country, "country");
  if (postal_changed || (!current && postal_current)) {
    Json p = Json::MakeObject();
    p.Set("address_type", "postal");
    p.Set("purpose", "BILLING");
    p.Set("line1", postal.line1);
    p.Set("line2", postal.line2);
    p.Set("city", postal.city);
    p.Set("region_or_state", postal.state);
    p.Set("postal_code", postal.postal_code);
    if (!postal.country.empty()) {
      const std::string alpha3 = CountryAlpha3(postal.country);
      if (alpha3.empty())
        return Status::InvalidArgument("address.country '" + postal.country +
                                       "': GTV takes ISO 3166 codes (FR, FRA); map the CRM's "
                                       "value with a value_map");
      p.Set("country", alpha3);
    }
    addresses.Push(p);
  }
  if (addresses.size() > 0) party.Set("addresses", addresses);
  if (!current) party.Set("external_customer_num", a.external_key);
  if (party.size() > 1 || !current) body.Set("responsible_party", party);
  if (!a.description.empty()) body.Set("description", a.description);
  auto custom = CustomFieldValues("billing-account", a.metadata, clear_custom);
  if (!custom.ok()) return custom.status();
  if (custom->size() > 0) body.Set("custom_field_values", *custom);
  return body;
}

Status GtvBilling::RemoveAccount(const std::string& id) {
  auto current = Get(P::Account(id));
  if (!current.ok()) return current.status().IsNotFound() ? Status::Ok() : current.status();
  if ((*current)["status"].as_string() == "DEACTIVATED") return Status::Ok();
  // Its orders are its subscriptions: deactivating the account would end their services.
  bool ordered = false;
  TANDEM_RETURN_IF_ERROR(ListAll(
      std::string(P::kOrders) + "?" + Query({{"billing_account_id", id}}), [&](const Json&) {
        ordered = true;
        return Status::Ok();
      }));
  if (ordered) return Status::Conflict("gotransverse billing account " + id + " has orders");
  bool invoiced = false;
  const Status listed = ListInvoices(id, [&](const Invoice&) {
    invoiced = true;
    return Status::Cancelled("one is enough");
  });
  if (!listed.ok() && listed.code() != Status::Code::kCancelled) return listed;
  if (invoiced) return Status::Conflict("gotransverse billing account " + id + " has invoices");
  // The account command (the 1.x API's `deactivate`; the path under 2.x is inferred).
  return Call("POST", P::Account(id) + "/deactivate", nullptr).status();
}

Result<BillingAccount> GtvBilling::CreateAccount(const BillingAccount& account,
                                                 const std::string& key) {
  (void)key;  // GTV takes none: the CRM id in external_account_num is the key
  auto body = AccountBody(account, nullptr);
  if (!body.ok()) return body.status();
  // The reference data GTV requires: a bill cycle (in the account's currency when one is)
  // and the configured category.
  auto reference = ReferenceData();
  if (!reference.ok()) return reference.status();
  // The configured cycle, else the first in the account's currency, else the first.
  std::string cycle, cycle_currency;
  int rank = 0;  // 3 configured, 2 same currency, 1 any
  for (const Json& c : reference->cycles) {
    const std::string status = c["status"].as_string();
    if (!status.empty() && status != "ACTIVE") continue;
    const int r =
        c["id"].as_string() == options_.default_bill_cycle ? 3
        : !account.currency.empty() && c["currency_code"].as_string() == Upper(account.currency)
            ? 2
            : 1;
    if (r > rank) {
      rank = r;
      cycle = c["id"].as_string();
      cycle_currency = c["currency_code"].as_string();
    }
  }
  if (cycle.empty()) return Status::InvalidArgument("gotransverse has no active bill cycle");
  std::string category;
  for (const Json& c : reference->categories)
    if (c["code"].as_string() == options_.account_category) category = c["id"].as_string();
  if (category.empty())
    return Status::InvalidArgument("gotransverse has no billing account category '" +
                                   options_.account_category + "' (billing.account_category)");
  body->Set("external_account_num", account.external_key);
  body->Set("bill_cycle", Ref(cycle));
  body->Set("billing_account_category", Ref(category));
  body->Set("bill_type", "EMAIL");
  body->Set("currency_code", account.currency.empty() ? cycle_currency : Upper(account.currency));
  body->Set("start_date", FormatDate(ToEpochMillis(clock_.Now()) / 1000));
  if (account.external_key.empty()) {
    // No CRM id to look it up by (an account made outside a sync): one attempt, never
    // repeated, since a lost answer could not be told from a failure.
    auto made = Call("POST", P::kAccounts, &*body);
    if (!made.ok()) return made.status();
    return AccountFromJson(*made);
  }
  auto made = CreateOnce(
      "account " + account.external_key,
      [&] {
        return FindOne(
            std::string(P::kAccounts) + "?" + Eq("external_account_num", account.external_key),
            "open billing accounts with external_account_num " + account.external_key, IsOpen);
      },
      [&] { return Call("POST", P::kAccounts, &*body); });
  if (!made.ok()) return made.status();
  return AccountFromJson(*made);
}

Result<BillingAccount> GtvBilling::UpdateAccount(const std::string& id,
                                                 const BillingAccount& fields,
                                                 const std::string& key) {
  (void)key;  // a PUT of the same fields is idempotent by nature
  auto current = Get(P::Account(id));
  if (!current.ok()) return current.status();
  auto body = AccountBody(fields, &*current);
  if (!body.ok()) return body.status();
  if (body->size() == 0) return AccountFromJson(*current);
  auto put = Call("PUT", P::Account(id), &*body);
  if (!put.ok()) return put.status();
  return AccountFromJson(*put);
}

Result<BillingAccount> GtvBilling::GetAccount(const std::string& id) {
  auto a = Get(P::Account(id));
  if (!a.ok()) return a.status();
  return AccountFromJson(*a);
}

Result<std::optional<BillingAccount>> GtvBilling::FindAccountByExternalKey(
    const std::string& external_key) {
  auto found = FindOne(std::string(P::kAccounts) + "?" + Eq("external_account_num", external_key),
                       "open billing accounts with external_account_num " + external_key, IsOpen);
  if (!found.ok()) return found.status();
  if (!found->has_value()) return std::optional<BillingAccount>();
  return std::optional<BillingAccount>(AccountFromJson(**found));
}

Status GtvBilling::ListAccounts(const std::function<Status(const BillingAccount&)>& on_account) {
  return ListAll(P::kAccounts, [&](const Json& a) { return on_account(AccountFromJson(a)); });
}

// ---------------------------------------------------------------- catalog

Result<Product> GtvBilling::CreateProduct(const Product& product, const std::string& key) {
  (void)key;  // product names are unique in GTV: the name is the key
  Json body = Json::MakeObject();
  body.Set("product_type", product.kind == "add_on" ? "add-on"
                           : product.kind == "fee"  ? "one-time"
                                                    : "customer-subscription");
  body.Set("name", product.name);
  if (!product.description.empty()) body.Set("description", product.description);
  if (!product.parent_product_id.empty())
    body.Set("parent_product", Ref(product.parent_product_id));
  body.Set("introduction_date", FormatDate(ToEpochMillis(clock_.Now()) / 1000));
  auto made = CreateOnce(
      "product " + product.name,
      [&] {
        return FindOne(std::string(P::kProducts) + "?" + Eq("name", product.name),
                       "products named " + product.name);
      },
      [&] { return Call("POST", P::kProducts, &body); });
  if (!made.ok()) return made.status();
  return ProductFromJson(*made);
}

Result<Product> GtvBilling::UpdateProduct(const std::string& id, const Product& fields,
                                          const std::string& key) {
  (void)key;
  auto current = Get(P::Product(id));
  if (!current.ok()) return current.status();
  Json body = Json::MakeObject();
  if (!fields.name.empty() && fields.name != (*current)["name"].as_string())
    body.Set("name", fields.name);
  if (!fields.description.empty() && fields.description != (*current)["description"].as_string())
    body.Set("description", fields.description);
  if (body.size() > 0) {
    auto put = Call("PUT", P::Product(id), &body);
    if (!put.ok()) return put.status();
  }
  const std::string status = (*current)["status"].as_string();
  if (!fields.active && status != "DEACTIVATED") {
    auto off = Call("POST", P::ProductCommand(id, "deactivate"), nullptr);
    if (!off.ok()) return off.status();
  }
  auto now = Get(P::Product(id));
  if (!now.ok()) return now.status();
  return ProductFromJson(*now);
}

Result<Price> GtvBilling::CreatePrice(const Price& price, const std::string& key) {
  (void)key;  // (product, currency, amount, period) is the key
  const std::string period = RecurrencePeriod(price.interval, std::max(1, price.interval_count));
  if (!price.interval.empty() && period.empty())
    return Status::InvalidArgument("gotransverse has no recurrence of every " +
                                   std::to_string(price.interval_count) + " " + price.interval);
  Json body = Json::MakeObject();
  body.Set("price_type", price.interval.empty() ? "one-time" : "recurring");
  body.Set("currency_code", Upper(price.currency));
  body.Set("amount", FromMinor(price.unit_amount_minor, price.currency));
  if (!period.empty()) body.Set("recurrence_period", period);
  body.Set("from_date", FormatDate(ToEpochMillis(clock_.Now()) / 1000));
  auto made = CreateOnce(
      "price of product " + price.product_id,
      [&]() -> Result<std::optional<Json>> {
        std::optional<Json> same;
        TANDEM_RETURN_IF_ERROR(ListAll(P::ProductPrices(price.product_id), [&](const Json& p) {
          const Price have = PriceFromJson(p);
          if (have.active && have.currency == Lower(price.currency) &&
              have.unit_amount_minor == price.unit_amount_minor &&
              have.interval == price.interval &&
              (price.interval.empty() || have.interval_count == std::max(1, price.interval_count)))
            same = p;
          return Status::Ok();
        }));
        return same;
      },
      [&] { return Call("POST", P::ProductPrices(price.product_id), &body); });
  if (!made.ok()) return made.status();
  // A product is sellable once it is priced and active (GTV refuses orders of a DRAFT one).
  auto product = Get(P::Product(price.product_id));
  if (!product.ok()) return product.status();
  if ((*product)["status"].as_string() == "DRAFT") {
    auto on = Call("POST", P::ProductCommand(price.product_id, "activate"), nullptr);
    if (!on.ok()) return on.status();
  }
  return PriceFromJson(*made);
}

Result<Price> GtvBilling::GetPrice(const std::string& id) {
  auto p = Get(P::Price(id));
  if (!p.ok()) return p.status();
  return PriceFromJson(*p);
}

Result<CatalogChanges> GtvBilling::ListCatalogChanges(const std::string& since) {
  // The cursor: "id=digest" of every product and price seen last time, products then "|"
  // then prices. Small: 26 bytes an object.
  std::map<std::string, std::string> seen;
  for (size_t start = 0; start < since.size();) {
    size_t end = since.find(',', start);
    if (end == std::string::npos) end = since.size();
    const std::string entry = since.substr(start, end - start);
    const size_t eq = entry.find('=');
    if (eq != std::string::npos) seen[entry.substr(0, eq)] = entry.substr(eq + 1);
    start = end + 1;
  }
  CatalogChanges out;
  std::string cursor;
  auto note = [&](const std::string& id, const Json& j) {
    const std::string digest = StableHash(j.Dump()).substr(0, 12);
    cursor += (cursor.empty() ? "" : ",") + id + "=" + digest;
    auto it = seen.find(id);
    return it == seen.end() || it->second != digest;
  };
  TANDEM_RETURN_IF_ERROR(ListAll(
      P::kProducts,
      [&](const Json& p) {
        if (note("p" + p["id"].as_string(), p)) out.products.push_back(ProductFromJson(p));
        return Status::Ok();
      },
      &out.reads));
  TANDEM_RETURN_IF_ERROR(ListAll(
      P::kPrices,
      [&](const Json& p) {
        if (note("r" + p["id"].as_string(), p)) out.prices.push_back(PriceFromJson(p));
        return Status::Ok();
      },
      &out.reads));
  out.cursor = cursor;
  return out;
}

}  // namespace tandem::connector::billing::gtv
