#include "connector/billing/gtv/gtv_billing.h"

#include <algorithm>

#include "connector/billing/gtv/gtv_paths.h"
#include "connector/billing/gtv/gtv_wire.h"
#include "connector/http/form.h"
#include "util/ascii.h"
#include "util/log.h"
#include "util/money_units.h"

#include <openssl/crypto.h>

namespace tandem::connector::billing::gtv {
namespace {

using P = GtvPaths;

// A filter=<field> EQ '<value>' query (GTV's filter language quotes with '', doubled inside).
std::string Eq(const std::string& field, const std::string& value) {
  std::string quoted;
  for (char c : value) quoted += c == '\'' ? std::string("''") : std::string(1, c);
  return http::FormEncode({{"filter", field + " EQ '" + quoted + "'"}});
}

std::string Query(const http::FormFields& fields) { return http::FormEncode(fields); }

Json Ref(const std::string& id) {
  Json r = Json::MakeObject();
  r.Set("id", id);
  return r;
}

// An answer that may have been lost after GTV acted on it: look before doing it again.
bool Ambiguous(const Status& st) {
  return st.IsUnavailable() || st.IsTimeout() || st.IsIoError() || st.IsRateLimited() ||
         st.IsRemoteError();
}

bool Final(const Json& service) {
  const std::string s = service["status"].as_string();
  return s == "SERVICE_DEACTIVATED" || s == "SERVICE_REPLACED" || s == "SERVICE_CANCELED";
}

constexpr char kTermNote[] = "tandem term ends ";  // a held order's term, kept on its note

}  // namespace

GtvBilling::GtvBilling(GtvOptions options, http::RestClient& rest, const Clock& clock,
                       Sleeper& sleeper)
    : options_(std::move(options)), rest_(rest), clock_(clock), sleeper_(sleeper) {}

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

Result<std::optional<Json>> GtvBilling::FindOne(const std::string& path, const std::string& what) {
  std::vector<Json> found;
  TANDEM_RETURN_IF_ERROR(ListAll(path, [&](const Json& j) {
    found.push_back(j);
    return Status::Ok();
  }));
  if (found.size() > 1)
    return Status::Conflict("gotransverse: " + std::to_string(found.size()) + " " + what +
                            " where one was expected; resolve in GTV");
  if (found.empty()) return std::optional<Json>();
  return std::optional<Json>(found.front());
}

Result<Json> GtvBilling::CreateOnce(const std::string& what,
                                    const std::function<Result<std::optional<Json>>()>& lookup,
                                    const std::function<Result<Json>()>& create) {
  Status last = Status::Internal("not tried");
  for (int attempt = 1; attempt <= std::max(1, options_.max_attempts); ++attempt) {
    auto found = lookup();
    if (!found.ok()) {
      if (!Ambiguous(found.status())) return found.status();
      last = found.status();
    } else if (found->has_value()) {
      return **found;
    } else {
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
            "billing accounts with external_account_num " + account.external_key);
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
                       "billing accounts with external_account_num " + external_key);
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

// ---------------------------------------------------------------- subscriptions

Result<Json> GtvBilling::OrderItem(const SubscriptionItem& item, const std::string& currency) {
  Json oi = Json::MakeObject();
  std::string product = item.price.product_id;
  std::string catalog_price = item.price_id;
  if (auto it = item.metadata.find("tandem_catalog_price"); it != item.metadata.end())
    catalog_price = it->second;
  if (!catalog_price.empty()) {
    auto price = GetPrice(catalog_price);
    if (!price.ok()) return price.status();
    if (product.empty()) product = price->product_id;
    if (price->product_id == product) oi.Set("product_price", Ref(catalog_price));
  }
  if (product.empty())
    return Status::InvalidArgument("gotransverse: an order line needs a product or a price");
  oi.Set("product", Ref(product));
  oi.Set("quantity", item.quantity);
  if (item.sold_price)  // the price the line was sold at, for this service alone
    oi.Set("unit_price", FromMinor(item.price.unit_amount_minor,
                                   item.price.currency.empty() ? currency : item.price.currency));
  return oi;
}

Result<std::optional<Json>> GtvBilling::FindOrder(const std::string& account_id,
                                                  const std::string& key) {
  return FindOne(std::string(P::kOrders) + "?" +
                     Query({{"billing_account_id", account_id}, {"purchase_order_number", key}}),
                 "orders with purchase order number " + key);
}

Result<Json> GtvBilling::Confirmed(Json order, int64_t start_at) {
  if (order["status"].as_string() != "DRAFT") return order;
  const std::string id = order["id"].as_string();
  if (start_at > ToEpochMillis(clock_.Now()) / 1000) {
    Json when = Json::MakeObject();
    when.Set("requested_effective_date", FormatDate(start_at));
    for (const auto& item : order["order_items"].array()) {
      auto put = Call("PUT", P::OrderItem(id, item["id"].as_string()), &when);
      if (!put.ok()) return put.status();
    }
  }
  auto confirmed = Call("POST", P::Confirm(id), nullptr);
  if (confirmed.ok()) return confirmed;
  // Confirmed by an attempt whose answer was lost: GTV says it is no longer a draft.
  auto now = Get(P::Order(id));
  if (now.ok() && (*now)["status"].as_string() == "COMPLETED") return now;
  return confirmed.status();
}

Result<Subscription> GtvBilling::FromOrder(const Json& order) {
  Subscription s;
  s.id = order["id"].as_string();
  s.account_id = order["billing_account"]["id"].as_string();
  s.metadata = ReadCustomFields(order);
  const std::string status = order["status"].as_string();
  if (status == "DRAFT" || status == "CANCELED") {
    s.status = status == "DRAFT" ? "pending" : "canceled";
    for (const auto& oi : order["order_items"].array()) {
      SubscriptionItem item;
      item.id = oi["id"].as_string();
      item.price_id = oi["product_price"]["id"].as_string();
      item.quantity = oi["quantity"].as_int();
      item.price.product_id = oi["product"]["id"].as_string();
      s.items.push_back(item);
    }
    return s;
  }
  std::vector<Json> bases;
  TANDEM_RETURN_IF_ERROR(
      ListAll(std::string(P::kServices) + "?" + Query({{"order_id", s.id}}), [&](const Json& svc) {
        if (svc["parent_service"]["id"].as_string().empty()) bases.push_back(svc);
        return Status::Ok();
      }));
  if (bases.empty()) return Status::NotFound("gotransverse order " + s.id + " has no service");
  const Json& base = bases.front();
  for (const auto& b : bases) {
    s.items.push_back(ItemFromService(b));
    TANDEM_RETURN_IF_ERROR(ListAll(
        std::string(P::kServices) + "?" + Query({{"parent_service_id", b["id"].as_string()}}),
        [&](const Json& child) {
          if (!Final(child)) s.items.push_back(ItemFromService(child));
          return Status::Ok();
        }));
  }
  s.status = SubscriptionStatus(base["status"].as_string());
  s.start_date = ParseTime(base["start_date"].as_string());
  if (!base["service_periods"].array().empty()) {
    const Json& period = base["service_periods"].array().front();
    s.current_period_start = ParseTime(period["start_date"].as_string());
    // The period's last day is inclusive: it ends when the next one starts.
    const int64_t last = ParseTime(period["end_date"].as_string());
    s.current_period_end = last ? last + 86'400 : 0;
  }
  const int64_t end = ParseTime(base["end_date"].as_string());
  if (s.status == "canceled") {
    s.canceled_at = end ? end : ParseTime(base["status_date"].as_string());
    s.cancel_at = s.canceled_at;
  } else {
    s.cancel_at = end;
    s.cancel_at_period_end = end != 0 && end == s.current_period_end;
  }
  return s;
}

Result<Json> GtvBilling::BaseService(const std::string& subscription_id) {
  std::optional<Json> base;
  TANDEM_RETURN_IF_ERROR(ListAll(
      std::string(P::kServices) + "?" + Query({{"order_id", subscription_id}}), [&](const Json& s) {
        if (!base && s["parent_service"]["id"].as_string().empty()) base = s;
        return Status::Ok();
      }));
  if (!base) {
    auto order = Get(P::Order(subscription_id));  // NotFound for an id GTV never gave
    if (!order.ok()) return order.status();
    return Status::InvalidArgument("gotransverse order " + subscription_id + " is " +
                                   (*order)["status"].as_string() + ": it has no service yet");
  }
  return *base;
}

Result<Json> GtvBilling::Command(const std::string& service_id, const char* verb,
                                 const Json& body) {
  auto done = Call("POST", P::ServiceCommand(service_id, verb), &body);
  if (done.ok() || !Ambiguous(done.status())) return done;
  // Commands are read-compare-write by their callers: a retry after a lost answer reads first.
  return done.status();
}

Status GtvBilling::ScheduleEnd(const Json& service, int64_t end_at) {
  if (Final(service)) return Status::Ok();
  const std::string date = FormatDate(end_at);
  if (service["end_date"].as_string().substr(0, 10) == date) return Status::Ok();
  Json body = Json::MakeObject();
  body.Set("effective_date", date);
  return Command(service["id"].as_string(), "deactivate", body).status();
}

Result<Subscription> GtvBilling::CreateSubscription(const SubscriptionSpec& spec,
                                                    const std::string& key) {
  if (key.empty()) return Status::InvalidArgument("gotransverse: a subscription needs its key");
  Json body = Json::MakeObject();
  body.Set("order_type", "sales");
  body.Set("billing_account", Ref(spec.account_id));
  body.Set("purchase_order_number", key);
  if (spec.cancel_at > 0 && !spec.start_active)
    body.Set("note", std::string(kTermNote) + std::to_string(spec.cancel_at));
  Metadata order_fields = spec.metadata;
  auto custom = CustomFieldValues("order", order_fields);
  if (!custom.ok()) return custom.status();
  if (custom->size() > 0) body.Set("custom_field_values", *custom);
  Json items = Json::MakeArray();
  for (const auto& item : spec.items) {
    auto oi = OrderItem(item, "");
    if (!oi.ok()) return oi.status();
    if (spec.start_at > 0) oi->Set("requested_effective_date", FormatDate(spec.start_at));
    items.Push(*oi);
  }
  body.Set("order_items", items);
  auto order = CreateOnce(
      "order " + key, [&] { return FindOrder(spec.account_id, key); },
      [&] { return Call("POST", P::kOrders, &body); });
  if (!order.ok()) return order.status();
  if (!spec.start_active) return FromOrder(*order);
  auto confirmed = Confirmed(*order, 0);
  if (!confirmed.ok()) return confirmed.status();
  if (spec.cancel_at > 0) {
    auto base = BaseService((*confirmed)["id"].as_string());
    if (!base.ok()) return base.status();
    TANDEM_RETURN_IF_ERROR(ScheduleEnd(*base, spec.cancel_at));
  }
  return GetSubscription((*confirmed)["id"].as_string());
}

Result<Subscription> GtvBilling::GetSubscription(const std::string& id) {
  auto order = Get(P::Order(id));
  if (!order.ok()) return order.status();
  return FromOrder(*order);
}

Status GtvBilling::ListSubscriptions(
    const std::function<Status(const Subscription&)>& on_subscription) {
  // Orders that made subscriptions: those whose lines hang on no other service (add-on and
  // change orders do).
  return ListAll(std::string(P::kOrders) + "?" + Query({{"order_type", "sales"}}),
                 [&](const Json& order) {
                   for (const auto& oi : order["order_items"].array())
                     if (!oi["parent_service"]["id"].as_string().empty()) return Status::Ok();
                   auto s = FromOrder(order);
                   if (!s.ok()) return s.status().IsNotFound() ? Status::Ok() : s.status();
                   return on_subscription(*s);
                 });
}

Result<std::optional<Subscription>> GtvBilling::FindSubscription(const std::string& account_id,
                                                                 const std::string& key,
                                                                 const std::string& value) {
  std::optional<Json> hit;
  if (key == "tandem_task") {  // the operation's key is the order's purchase order number
    auto found = FindOrder(account_id, value);
    if (!found.ok()) return found.status();
    hit = *found;
  } else {
    TANDEM_RETURN_IF_ERROR(
        ListAll(std::string(P::kOrders) + "?" + Query({{"billing_account_id", account_id}}),
                [&](const Json& order) {
                  auto fields = ReadCustomFields(order);
                  if (auto it = fields.find(key); it != fields.end() && it->second == value)
                    hit = order;
                  return Status::Ok();
                }));
  }
  if (!hit) return std::optional<Subscription>();
  auto s = FromOrder(*hit);
  if (!s.ok()) return s.status();
  return std::optional<Subscription>(*s);
}

Result<Subscription> GtvBilling::StartSubscription(const std::string& id, int64_t start_at,
                                                   const std::string& key) {
  (void)key;  // a COMPLETED order is started: the retry reads that
  auto order = Get(P::Order(id));
  if (!order.ok()) return order.status();
  const std::string note = (*order)["note"].as_string();
  auto confirmed = Confirmed(*order, start_at);
  if (!confirmed.ok()) return confirmed.status();
  if (note.rfind(kTermNote, 0) == 0) {
    const int64_t end = std::atoll(note.c_str() + sizeof(kTermNote) - 1);
    auto base = BaseService(id);
    if (!base.ok()) return base.status();
    if (end > 0) TANDEM_RETURN_IF_ERROR(ScheduleEnd(*base, end));
  }
  return GetSubscription(id);
}

Result<Subscription> GtvBilling::ChangeQuantity(const std::string& subscription_id,
                                                const std::string& item_id, int64_t quantity,
                                                Proration proration, const std::string& key) {
  (void)proration;  // GTV prorates by the price's own setting (docs/gotransverse.md)
  auto item = ChangeAddOn(item_id, quantity, proration, key);
  if (!item.ok()) return item.status();
  return GetSubscription(subscription_id);
}

Result<Subscription> GtvBilling::ChangePrice(const std::string& subscription_id,
                                             const std::string& item_id, const SubscriptionItem& to,
                                             Proration proration, const std::string& key) {
  (void)proration;
  (void)key;
  auto service = Get(P::Service(item_id));
  if (!service.ok()) return service.status();
  const SubscriptionItem now = ItemFromService(*service);
  int64_t amount = to.price.unit_amount_minor;
  std::string product = to.price.product_id;
  if (!to.sold_price) {
    auto price = GetPrice(to.price_id);
    if (!price.ok()) return price.status();
    amount = price->unit_amount_minor;
    product = price->product_id;
  }
  if (!product.empty() && product != now.price.product_id)
    return Status::InvalidArgument(
        "gotransverse changes a service's price within its product; moving service " + item_id +
        " to another product is a replace");
  if (now.price.unit_amount_minor != amount) {
    Json body = Json::MakeObject();
    body.Set("new_recurring_unit_price", FromMinor(amount, now.price.currency));
    auto changed = Command(item_id, "change-price", body);
    if (!changed.ok()) return changed.status();
  }
  return GetSubscription(subscription_id);
}

Result<Subscription> GtvBilling::ReTerm(const std::string& subscription_id, int64_t cancel_at,
                                        const std::string& key) {
  (void)key;
  if (cancel_at <= 0)
    return Status::InvalidArgument(
        "gotransverse cannot make a service open-ended again except by renewing it");
  auto base = BaseService(subscription_id);
  if (!base.ok()) return base.status();
  TANDEM_RETURN_IF_ERROR(ScheduleEnd(*base, cancel_at));
  return GetSubscription(subscription_id);
}

Result<Subscription> GtvBilling::Cancel(const std::string& subscription_id, bool at_period_end,
                                        const std::string& key) {
  (void)key;
  auto base = BaseService(subscription_id);
  if (!base.ok()) return base.status();
  if (!Final(*base)) {
    Json body = Json::MakeObject();
    // The period's end_date is its last day, billed in full: the service ends the day after.
    if (at_period_end && !(*base)["service_periods"].array().empty())
      body.Set(
          "effective_date",
          FormatDate(ParseTime((*base)["service_periods"].array().front()["end_date"].as_string()) +
                     86'400));
    auto done = Command((*base)["id"].as_string(), "deactivate", body);
    if (!done.ok()) {
      auto again = Get(P::Service((*base)["id"].as_string()));  // done by a lost attempt?
      if (!again.ok() || !Final(*again)) return done.status();
    }
  }
  return GetSubscription(subscription_id);
}

Result<Subscription> GtvBilling::Replace(const std::string& old_subscription_id,
                                         const SubscriptionSpec& spec, const std::string& key) {
  auto base = BaseService(old_subscription_id);
  if (!base.ok()) return base.status();
  Json order = Json::MakeObject();
  order.Set("purchase_order_number", key);
  auto custom = CustomFieldValues("order", spec.metadata);
  if (!custom.ok()) return custom.status();
  if (custom->size() > 0) order.Set("custom_field_values", *custom);
  Json items = Json::MakeArray();
  for (const auto& item : spec.items) {
    auto oi = OrderItem(item, "");
    if (!oi.ok()) return oi.status();
    items.Push(*oi);
  }
  order.Set("order_items", items);
  Json body = Json::MakeObject();
  body.Set("service", Ref((*base)["id"].as_string()));
  body.Set("order", order);
  const std::string account = (*base)["billing_account"]["id"].as_string();
  auto made = CreateOnce(
      "replacement " + key, [&] { return FindOrder(account, key); },
      [&]() -> Result<Json> {
        if (Final(*base))
          return Status::InvalidArgument("gotransverse service " + (*base)["id"].as_string() +
                                         " has ended: there is nothing to replace");
        return Call("POST", P::ChangeService(account), &body);
      });
  if (!made.ok()) return made.status();
  const std::string id = (*made)["id"].as_string();
  if (spec.cancel_at > 0) {
    auto new_base = BaseService(id);
    if (!new_base.ok()) return new_base.status();
    TANDEM_RETURN_IF_ERROR(ScheduleEnd(*new_base, spec.cancel_at));
  }
  return GetSubscription(id);
}

Result<Subscription> GtvBilling::Renew(const std::string& subscription_id, int64_t new_cancel_at,
                                       const std::string& key) {
  (void)key;
  auto base = BaseService(subscription_id);
  if (!base.ok()) return base.status();
  if ((*base)["end_date"].as_string().substr(0, 10) != FormatDate(new_cancel_at)) {
    Json body = Json::MakeObject();
    body.Set("preserve_pricing", true);
    body.Set("end_date", FormatDate(new_cancel_at));
    auto renewed = Command((*base)["id"].as_string(), "renew", body);
    if (!renewed.ok()) return renewed.status();
  }
  return GetSubscription(subscription_id);
}

// ---------------------------------------------------------------- add-ons and charges

Result<SubscriptionItem> GtvBilling::AddAddOn(const std::string& subscription_id,
                                              const SubscriptionItem& item, Proration proration,
                                              const std::string& key) {
  (void)proration;
  auto base = BaseService(subscription_id);
  if (!base.ok()) return base.status();
  auto oi = OrderItem(item, (*base)["currency_code"].as_string());
  if (!oi.ok()) return oi.status();
  oi->Set("parent_service", Ref((*base)["id"].as_string()));
  Json body = Json::MakeObject();
  const std::string account = (*base)["billing_account"]["id"].as_string();
  body.Set("order_type", "sales");
  body.Set("billing_account", Ref(account));
  body.Set("purchase_order_number", key);
  Json items = Json::MakeArray();
  items.Push(*oi);
  body.Set("order_items", items);
  auto order = CreateOnce(
      "add-on " + key, [&] { return FindOrder(account, key); },
      [&] { return Call("POST", P::kOrders, &body); });
  if (!order.ok()) return order.status();
  auto confirmed = Confirmed(*order, 0);
  if (!confirmed.ok()) return confirmed.status();
  const std::string service =
      (*confirmed)["order_items"].array().empty()
          ? ""
          : (*confirmed)["order_items"].array().front()["service"]["id"].as_string();
  auto svc = Get(P::Service(service));
  if (!svc.ok()) return svc.status();
  return ItemFromService(*svc);
}

Result<SubscriptionItem> GtvBilling::ChangeAddOn(const std::string& item_id, int64_t quantity,
                                                 Proration proration, const std::string& key) {
  (void)proration;
  (void)key;
  auto service = Get(P::Service(item_id));
  if (!service.ok()) return service.status();
  if ((*service)["quantity"].as_int() != quantity) {
    Json body = Json::MakeObject();
    body.Set("new_quantity", quantity);
    auto changed = Command(item_id, "change-quantity", body);
    if (!changed.ok()) return changed.status();
    return ItemFromService(*changed);
  }
  return ItemFromService(*service);
}

Status GtvBilling::RemoveAddOn(const std::string& item_id, Proration proration,
                               const std::string& key) {
  (void)proration;
  (void)key;
  auto service = Get(P::Service(item_id));
  if (!service.ok()) return service.status();
  if (Final(*service)) return Status::Ok();  // removed already (a retry)
  return Command(item_id, "deactivate", Json::MakeObject()).status();
}

Result<std::string> GtvBilling::AddOneTimeCharge(const OneTimeCharge& charge,
                                                 const std::string& key) {
  // The key ends the description: what a retry finds the adjustment by.
  const std::string description = charge.description + " [" + key + "]";
  Json body = Json::MakeObject();
  body.Set("billing_account", Ref(charge.account_id));
  body.Set("amount", FromMinor(charge.amount_minor, charge.currency));
  body.Set("credit", false);
  body.Set("description", description);
  body.Set("occurred_on", FormatDate(ToEpochMillis(clock_.Now()) / 1000));
  auto made = CreateOnce(
      "one-time charge " + key,
      [&] {
        return FindOne(
            std::string(P::kAdjustments) + "?" +
                Query({{"billing_account_id", charge.account_id}, {"description", description}}),
            "adjustments for " + key);
      },
      [&] { return Call("POST", P::kAdjustments, &body); });
  if (!made.ok()) return made.status();
  return (*made)["id"].as_string();
}

Status GtvBilling::RecordUsage(const UsageRecord& usage, const std::string& key) {
  Json event = Json::MakeObject();
  event.Set("start_time", FormatDate(usage.timestamp));
  event.Set("service_resource_identifier", usage.subscription_item_id);
  event.Set("usage_uom", "COUNT");
  event.Set("usage_amount", usage.quantity);
  event.Set("reference_id", usage.subscription_item_id);
  event.Set("sequence_id", StableHash(key));  // derived from the key: a resend is a duplicate
  Json body = Json::MakeObject();
  body.Set("mode", usage.set ? "OVERWRITE_ON_EXISTING" : "FAIL_ON_EXISTING");
  Json events = Json::MakeArray();
  events.Push(event);
  body.Set("usage_events", events);
  auto answer = Call("POST", P::kUsageBulk, &body);
  if (!answer.ok()) return answer.status();
  for (const auto& erred : (*answer)["erred_events"].array()) {
    const std::string message = erred["message"].as_string();
    if (message.find("already exists") != std::string::npos) continue;  // sent before: done
    return Status::InvalidArgument("gotransverse usage: " + message);
  }
  return Status::Ok();
}

// ---------------------------------------------------------------- invoices and payments

Status GtvBilling::ListInvoices(const std::string& account_id,
                                const std::function<Status(const Invoice&)>& on_invoice) {
  const std::string path = account_id.empty() ? std::string(P::kInvoices)
                                              : std::string(P::kInvoices) + "?" +
                                                    Query({{"billing_account_id", account_id}});
  return ListAll(path, [&](const Json& i) { return on_invoice(InvoiceFromJson(i)); });
}

Result<Invoice> GtvBilling::GetInvoice(const std::string& id) {
  auto i = Get(P::Invoice(id));
  if (!i.ok()) return i.status();
  return InvoiceFromJson(*i);
}

Result<Payment> GtvBilling::GetPayment(const std::string& id) {
  auto p = Get(P::Payment(id));
  if (!p.ok()) return p.status();
  return PaymentFromJson(*p);
}

Status GtvBilling::ListPayments(const std::string& account_id,
                                const std::function<Status(const Payment&)>& on_payment) {
  return ListAll(std::string(P::kPayments) + "?" + Query({{"billing_account_id", account_id}}),
                 [&](const Json& p) { return on_payment(PaymentFromJson(p)); });
}

Status GtvBilling::ListInvoicePayments(const Invoice& invoice,
                                       const std::function<Status(const Payment&)>& on_payment) {
  return ListAll(std::string(P::kPayments) + "?" + Query({{"invoice_id", invoice.id}}),
                 [&](const Json& p) { return on_payment(PaymentFromJson(p)); });
}

// ---------------------------------------------------------------- notifications

Result<BillingEvent> GtvBilling::VerifyWebhook(const std::string& payload, const std::string& token,
                                               int64_t now_epoch_s) const {
  (void)now_epoch_s;  // GTV's notifications carry no timestamp: the event id deduplicates
  const std::string& want = options_.notification_token;
  if (want.empty() || token.size() != want.size() ||
      CRYPTO_memcmp(token.data(), want.data(), want.size()) != 0)
    return Status::Unauthenticated("gotransverse notification: bad or missing X-Tandem-Token");
  return ParseEvent(payload);
}

Result<BillingEvent> GtvBilling::ParseEvent(const std::string& payload) const {
  auto j = Json::Parse(payload);
  if (!j.ok()) return Status::InvalidArgument("gotransverse notification: " + j.status().message());
  BillingEvent e;
  e.raw_type = (*j)["type"].as_string();
  e.object_id = (*j)["id"].ToText();
  e.account_id = (*j)["billing_account_id"].ToText();
  if (e.raw_type.empty() || e.object_id.empty())
    return Status::InvalidArgument("gotransverse notification: needs \"type\" and \"id\"");
  e.object = *j;
  const Json* object = j->Find("object");
  if (!object || !object->is_object()) {
    // GTV's HTTP notification: its payload is the operator's template, not GTV's data. It says
    // only that something changed; the next poll reads what.
    e.type = BillingEvent::Type::kPollHint;
    e.id = "gtv-hint:" + e.raw_type + ":" + e.object_id + ":" +
           std::to_string(ToEpochMillis(clock_.Now()));  // each arrival hints anew
    return e;
  }
  e.id = (*j)["event_id"].as_string();
  using T = BillingEvent::Type;
  if (e.raw_type.rfind("invoice.", 0) == 0) {
    e.invoice = InvoiceFromJson(*object);
    e.type = e.invoice.status == "paid" ? T::kInvoicePaid : T::kInvoiceFinalized;
    e.created = e.invoice.created;
  } else if (e.raw_type.rfind("payment.", 0) == 0) {
    // A payment concerns its invoice: the invoice event, with the payment as GTV has it.
    e.invoice = InvoiceFromJson((*object)["invoice"]);
    e.invoice.payment = PaymentFromJson((*object)["payment"]);
    e.invoice.charge_id = e.invoice.payment->id;
    e.invoice.attempt_count = std::max(e.invoice.attempt_count, 1);  // this payment tried it
    e.object_id = e.invoice.id;
    const std::string& paid = e.invoice.payment->status;
    e.type = paid == "failed"      ? T::kInvoicePaymentFailed
             : paid == "succeeded" ? T::kInvoicePaid
                                   : T::kInvoiceFinalized;  // still processing: recorded only
    e.created = e.invoice.payment->created;
  } else if (e.raw_type.rfind("service.", 0) == 0) {
    e.type = T::kSubscriptionChanged;  // object_id: the subscription (the order that made it)
    e.created = ParseTime((*object)["updated_on"].as_string());
  } else {
    e.type = T::kOther;
  }
  if (e.id.empty()) e.id = "gtv:" + e.raw_type + ":" + e.object_id;
  return e;
}

Result<PolledEvents> GtvBilling::PollEvents(const std::string& kind, const std::string& cursor) {
  PolledEvents out;
  out.cursor = cursor;
  auto event = [&](const std::string& type, const std::string& id, const std::string& account,
                   const std::string& event_id, Json object) -> Status {
    Json payload = Json::MakeObject();
    payload.Set("type", type);
    payload.Set("id", id);
    payload.Set("billing_account_id", account);
    payload.Set("event_id", event_id);
    payload.Set("object", std::move(object));
    auto parsed = ParseEvent(payload.Dump());
    if (!parsed.ok()) return parsed.status();
    parsed->object = payload;
    out.events.push_back(*parsed);
    return Status::Ok();
  };
  if (kind == "invoice" || kind == "payment") {
    const bool invoices = kind == "invoice";
    const std::string base = invoices ? P::kInvoices : P::kPayments;
    const std::string path =
        cursor.empty() ? base
                       : base + "?" + http::FormEncode({{"filter", "id GT '" + cursor + "'"}});
    Status listed = ListAll(
        path,
        [&](const Json& j) -> Status {
          const std::string id = j["id"].as_string();
          if (std::stoll(id) > (out.cursor.empty() ? 0 : std::stoll(out.cursor))) out.cursor = id;
          if (cursor.empty()) return Status::Ok();  // the first poll starts from now
          const std::string account = j["billing_account"]["id"].as_string();
          if (invoices)
            return event("invoice." + Lower(j["status"].as_string()), id, account,
                         "gtv:invoice:" + id, j);
          Json both = Json::MakeObject();
          both.Set("payment", j);
          auto invoice = Get(P::Invoice(j["invoice"]["id"].as_string()));
          if (!invoice.ok()) return invoice.status();
          both.Set("invoice", *invoice);
          return event("payment." + Lower(j["status"].as_string()), id, account,
                       "gtv:payment:" + id, both);
        },
        &out.reads);
    if (!listed.ok()) return listed;
    if (out.cursor.empty()) out.cursor = "0";  // nothing yet: every later one is new
    return out;
  }
  if (kind == "service") {
    // updated_on of the last change seen; a minute back, for changes committed late.
    const int64_t now = ToEpochMillis(clock_.Now()) / 1000;
    const int64_t since =
        cursor.empty() ? now : std::max<int64_t>(0, std::atoll(cursor.c_str()) - 60);
    int64_t latest = cursor.empty() ? now : std::atoll(cursor.c_str());
    Status listed = ListAll(
        std::string(P::kServices) + "?" +
            http::FormEncode(
                {{"filter", "updated_on GTE '" +
                                FormatRfc3339(FromEpochMillis(since * 1000)).substr(0, 19) +
                                "Z'"}}),
        [&](const Json& svc) -> Status {
          const std::string updated = svc["updated_on"].as_string();
          latest = std::max(latest, ParseTime(updated));
          // The subscription is the order that made the base service.
          std::string order = svc["order"]["id"].as_string();
          if (const std::string parent = svc["parent_service"]["id"].as_string(); !parent.empty()) {
            auto base = Get(P::Service(parent));
            if (!base.ok()) return base.status();
            order = (*base)["order"]["id"].as_string();
          }
          return event(
              "service.changed", order, svc["billing_account"]["id"].as_string(),
              // Its state, not only its time (GTV's stamps are to the second):
              // polled again unchanged it is the same event.
              "gtv:service:" + svc["id"].as_string() + ":" + StableHash(svc.Dump()).substr(0, 12),
              svc);
        },
        &out.reads);
    if (!listed.ok()) return listed;
    out.cursor = std::to_string(latest);
    return out;
  }
  return Status::InvalidArgument("gotransverse polls invoice, payment and service, not " + kind);
}

}  // namespace tandem::connector::billing::gtv
