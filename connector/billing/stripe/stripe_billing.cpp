#include "connector/billing/stripe/stripe_billing.h"

#include <algorithm>
#include <cctype>

#include "connector/billing/stripe/stripe_wire.h"
#include "util/ascii.h"

namespace tandem::connector::billing::stripe {
namespace {

using http::FormFields;

constexpr char kCrmIdKey[] = "crm_id";

void AddMetadata(const Metadata& m, FormFields* f) {
  for (const auto& [k, v] : m) f->emplace_back("metadata[" + k + "]", v);
}

void AddIfSet(FormFields* f, const std::string& key, const std::string& value) {
  if (!value.empty()) f->emplace_back(key, value);
}

BillingAccount AccountFromJson(const Json& j) {
  BillingAccount a;
  a.id = j["id"].as_string();
  a.name = j["name"].as_string();
  a.email = j["email"].as_string();
  a.phone = j["phone"].as_string();
  a.currency = j["currency"].as_string();
  a.description = j["description"].as_string();
  const Json& addr = j["address"];
  a.address = Address{addr["line1"].as_string(),       addr["line2"].as_string(),
                      addr["city"].as_string(),        addr["state"].as_string(),
                      addr["postal_code"].as_string(), addr["country"].as_string()};
  a.metadata = ReadMetadata(j);
  if (auto it = a.metadata.find(kCrmIdKey); it != a.metadata.end()) a.external_key = it->second;
  a.balance_minor = j["balance"].as_int();
  a.delinquent = j["delinquent"].as_bool();
  a.created = j["created"].as_int();
  return a;
}

FormFields AccountFields(const BillingAccount& a) {
  FormFields f;
  AddIfSet(&f, "name", a.name);
  AddIfSet(&f, "email", a.email);
  AddIfSet(&f, "phone", a.phone);
  AddIfSet(&f, "description", a.description);
  AddIfSet(&f, "address[line1]", a.address.line1);
  AddIfSet(&f, "address[line2]", a.address.line2);
  AddIfSet(&f, "address[city]", a.address.city);
  AddIfSet(&f, "address[state]", a.address.state);
  AddIfSet(&f, "address[postal_code]", a.address.postal_code);
  AddIfSet(&f, "address[country]", a.address.country);
  Metadata m = a.metadata;
  if (!a.external_key.empty()) m[kCrmIdKey] = a.external_key;
  AddMetadata(m, &f);
  // Stripe empties a field, and deletes a metadata key (a custom field), given an empty value.
  for (const std::string& path : a.clear) {
    if (path == kExternalKeyPath) {  // untagged: the CRM id's metadata key goes
      f.emplace_back("metadata[" + std::string(kCrmIdKey) + "]", "");
      continue;
    }
    const auto dot = path.find('.');
    const std::string parent = dot == std::string::npos ? path : path.substr(0, dot);
    f.emplace_back(dot == std::string::npos ? path
                                            : (parent == "custom" ? "metadata" : parent) + "[" +
                                                  path.substr(dot + 1) + "]",
                   "");
  }
  return f;
}

Product ProductFromJson(const Json& j) {
  Product p;
  p.id = j["id"].as_string();
  p.name = j["name"].as_string();
  p.description = j["description"].as_string();
  p.active = j["active"].as_bool(true);
  p.metadata = ReadMetadata(j);
  if (auto it = p.metadata.find("tandem_kind"); it != p.metadata.end()) p.kind = it->second;
  if (auto it = p.metadata.find("tandem_parent"); it != p.metadata.end())
    p.parent_product_id = it->second;
  p.updated = j["updated"].as_int();
  return p;
}

// The item's price as form fields under `prefix` ("items[0]" or "" for a subscription item's
// own call): the catalog price by id, or the sold price as price_data (ADR 0009).
void AddItemPrice(const SubscriptionItem& item, const std::string& prefix, FormFields* f) {
  // "price_data[currency]" under "items[0]" is "items[0][price_data][currency]".
  auto name = [&](const std::string& field) {
    if (prefix.empty()) return field;
    const size_t bracket = std::min(field.find('['), field.size());
    return prefix + "[" + field.substr(0, bracket) + "]" + field.substr(bracket);
  };
  if (!item.sold_price) {
    f->emplace_back(name("price"), item.price_id);
    return;
  }
  const Price& p = item.price;
  f->emplace_back(name("price_data[currency]"), Lower(p.currency));
  f->emplace_back(name("price_data[product]"), p.product_id);
  f->emplace_back(name("price_data[unit_amount]"), std::to_string(p.unit_amount_minor));
  f->emplace_back(name("price_data[recurring][interval]"), p.interval);
  f->emplace_back(name("price_data[recurring][interval_count]"),
                  std::to_string(std::max(1, p.interval_count)));
}

// The catalog's event types, as a query string (brackets encoded, as form encoding does).
std::string CatalogEventQuery() {
  FormFields f;
  for (const char* t : {"product.created", "product.updated", "product.deleted", "price.created",
                        "price.updated", "price.deleted"})
    f.emplace_back("types[]", t);
  return http::FormEncode(f);
}

// Stripe search query strings quote values in '...' with backslash escapes.
std::string SearchQuote(const std::string& v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "'";
}

}  // namespace

StripeBilling::StripeBilling(StripeOptions options, http::RestClient& rest, const Clock& clock)
    : options_(std::move(options)), rest_(rest), clock_(clock) {}

std::string StripeBilling::RecordUrl(const std::string& kind, const std::string& id) const {
  static const std::map<std::string, std::string> kPaths = {
      {"account", "customers"}, {"subscription", "subscriptions"},
      {"invoice", "invoices"},  {"product", "products"},
      {"price", "prices"},      {"payment", "payments"},
      {"refund", "refunds"},    {"credit_note", "credit_notes"}};
  auto it = kPaths.find(kind);
  return options_.dashboard_url + "/" + (it == kPaths.end() ? kind : it->second) + "/" +
         http::PercentEncode(id);
}

Result<Json> StripeBilling::Post(const std::string& path, const FormFields& fields,
                                 const std::string& key) {
  http::HttpRequest req;
  req.method = "POST";
  req.path = path;
  req.body = http::FormEncode(fields);
  // Qualify the caller's operation key with this call; with no caller key, the call itself
  // (path and parameters) is the key, so an identical retry is recognised.
  const std::string idem = key.empty() ? "tandem-" + Sha256Hex(path + "?" + req.body).substr(0, 40)
                                       : key + ":" + path.substr(path.find('/', 1) + 1);
  http::SetHeader(req.headers, "Idempotency-Key", idem.size() > 255 ? Sha256Hex(idem) : idem);
  http::SetHeader(req.headers, "Content-Type", "application/x-www-form-urlencoded");
  http::SetHeader(req.headers, "Stripe-Version", options_.api_version);
  auto resp = rest_.Send(std::move(req));
  if (!resp.ok()) return resp.status();
  if (!resp->ok()) return ErrorStatus(resp->status, resp->body, "stripe POST " + path);
  return Json::Parse(resp->body);
}

Result<Json> StripeBilling::Get(const std::string& path) {
  http::HttpRequest req;
  req.method = "GET";
  req.path = path;
  http::SetHeader(req.headers, "Stripe-Version", options_.api_version);
  auto resp = rest_.Send(std::move(req));
  if (!resp.ok()) return resp.status();
  if (!resp->ok())
    return ErrorStatus(resp->status, resp->body, "stripe GET " + path.substr(0, path.find('?')));
  return Json::Parse(resp->body);
}

Result<Json> StripeBilling::Delete(const std::string& path, const std::string& key) {
  http::HttpRequest req;
  req.method = "DELETE";
  req.path = path;
  http::SetHeader(req.headers, "Stripe-Version", options_.api_version);
  if (!key.empty()) http::SetHeader(req.headers, "Idempotency-Key", key + ":delete");
  auto resp = rest_.Send(std::move(req));
  if (!resp.ok()) return resp.status();
  if (!resp->ok()) return ErrorStatus(resp->status, resp->body, "stripe DELETE " + path);
  return Json::Parse(resp->body);
}

Status StripeBilling::List(const std::string& path,
                           const std::function<Status(const Json&)>& on_object, int64_t* reads) {
  std::string after;
  const char sep = path.find('?') == std::string::npos ? '?' : '&';
  for (;;) {
    std::string url = path + sep + "limit=" + std::to_string(options_.page_size);
    if (!after.empty()) url += "&starting_after=" + http::PercentEncode(after);
    auto page = Get(url);
    if (reads) ++*reads;
    if (!page.ok()) return page.status();
    for (const auto& obj : (*page)["data"].array()) {
      TANDEM_RETURN_IF_ERROR(on_object(obj));
      after = obj["id"].as_string();
    }
    if (!(*page)["has_more"].as_bool() || (*page)["data"].size() == 0) return Status::Ok();
  }
}

Result<BillingAccount> StripeBilling::CreateAccount(const BillingAccount& account,
                                                    const std::string& key) {
  auto j = Post("/v1/customers", AccountFields(account), key);
  if (!j.ok()) return j.status();
  return AccountFromJson(*j);
}

Result<BillingAccount> StripeBilling::UpdateAccount(const std::string& id,
                                                    const BillingAccount& fields,
                                                    const std::string& key) {
  auto j = Post("/v1/customers/" + http::PercentEncode(id), AccountFields(fields), key);
  if (!j.ok()) return j.status();
  return AccountFromJson(*j);
}

Result<BillingAccount> StripeBilling::GetAccount(const std::string& id) {
  auto j = Get("/v1/customers/" + http::PercentEncode(id));
  if (!j.ok()) return j.status();
  if ((*j)["deleted"].as_bool()) return Status::NotFound("stripe customer " + id + " is deleted");
  return AccountFromJson(*j);
}

Status StripeBilling::RemoveAccount(const std::string& id) {
  // Deleting a customer cancels its subscriptions at once: one with any history is refused.
  for (const char* kind : {"subscriptions?status=all&", "invoices?"}) {
    auto page = Get(std::string("/v1/") + kind + "limit=1&customer=" + http::PercentEncode(id));
    if (!page.ok()) return page.status().IsNotFound() ? Status::Ok() : page.status();
    if (!(*page)["data"].array().empty())
      return Status::Conflict("stripe customer " + id + " has " +
                              (kind[0] == 's' ? "subscriptions" : "invoices"));
  }
  auto gone = Delete("/v1/customers/" + http::PercentEncode(id), "");
  if (!gone.ok() && !gone.status().IsNotFound()) return gone.status();
  return Status::Ok();
}

Result<std::optional<BillingAccount>> StripeBilling::FindAccountByExternalKey(
    const std::string& external_key) {
  const std::string query =
      "metadata['" + std::string(kCrmIdKey) + "']:" + SearchQuote(external_key);
  auto j = Get("/v1/customers/search?query=" + http::PercentEncode(query) + "&limit=10");
  if (!j.ok()) return j.status();
  const auto& data = (*j)["data"].array();
  if (data.empty()) return std::optional<BillingAccount>();
  if (data.size() > 1)
    return Status::Conflict("stripe: " + std::to_string(data.size()) + " customers carry crm_id " +
                            external_key);
  return std::optional<BillingAccount>(AccountFromJson(data.front()));
}

Status StripeBilling::ListAccounts(const std::function<Status(const BillingAccount&)>& on_account) {
  return List("/v1/customers", [&](const Json& j) { return on_account(AccountFromJson(j)); });
}

Result<Product> StripeBilling::CreateProduct(const Product& p, const std::string& key) {
  FormFields f = {{"name", p.name}};
  AddIfSet(&f, "description", p.description);
  f.emplace_back("active", p.active ? "true" : "false");
  Metadata m = p.metadata;
  m["tandem_kind"] = p.kind;
  if (!p.parent_product_id.empty()) m["tandem_parent"] = p.parent_product_id;
  AddMetadata(m, &f);
  auto j = Post("/v1/products", f, key);
  if (!j.ok()) return j.status();
  return ProductFromJson(*j);
}

Result<Product> StripeBilling::UpdateProduct(const std::string& id, const Product& p,
                                             const std::string& key) {
  FormFields f;
  AddIfSet(&f, "name", p.name);
  AddIfSet(&f, "description", p.description);
  f.emplace_back("active", p.active ? "true" : "false");
  AddMetadata(p.metadata, &f);
  auto j = Post("/v1/products/" + http::PercentEncode(id), f, key);
  if (!j.ok()) return j.status();
  return ProductFromJson(*j);
}

Result<Price> StripeBilling::CreatePrice(const Price& p, const std::string& key) {
  FormFields f = {{"product", p.product_id},
                  {"currency", Lower(p.currency)},
                  {"unit_amount", std::to_string(p.unit_amount_minor)}};
  if (!p.interval.empty()) {
    f.emplace_back("recurring[interval]", p.interval);
    f.emplace_back("recurring[interval_count]", std::to_string(p.interval_count));
  }
  AddIfSet(&f, "nickname", p.nickname);
  f.emplace_back("active", p.active ? "true" : "false");
  AddMetadata(p.metadata, &f);
  auto j = Post("/v1/prices", f, key);
  if (!j.ok()) return j.status();
  return PriceFromJson(*j);
}

Result<Price> StripeBilling::GetPrice(const std::string& id) {
  auto j = Get("/v1/prices/" + http::PercentEncode(id));
  if (!j.ok()) return j.status();
  return PriceFromJson(*j);
}

Result<CatalogChanges> StripeBilling::ListCatalogChanges(const std::string& since) {
  // The cursor is the id of the newest catalog event taken into account. Later runs read only
  // the events after it (ending_before pages backwards in time: one read when nothing
  // changed); the newest state of each object wins. Stripe keeps events for 30 days: an
  // unknown cursor means a full read.
  CatalogChanges out;
  std::string cursor = since;
  if (!cursor.empty()) {
    std::map<std::string, std::pair<int64_t, Json>> latest_products, latest_prices;
    bool expired = false;
    for (;;) {
      auto page = Get("/v1/events?limit=" + std::to_string(options_.page_size) + "&" +
                      CatalogEventQuery() + "&" + http::FormEncode({{"ending_before", cursor}}));
      ++out.reads;
      if (!page.ok()) {
        if (page.status().IsNotFound()) {
          expired = true;
          break;
        }
        return page.status();
      }
      const auto& events = (*page)["data"].array();
      for (auto it = events.rbegin(); it != events.rend(); ++it) {  // oldest first
        const Json& e = *it;
        const Json& obj = e["data"]["object"];
        auto& slot = obj["object"].as_string() == "product" ? latest_products[obj["id"].as_string()]
                                                            : latest_prices[obj["id"].as_string()];
        Json o = obj;
        if (e["type"].as_string().find(".deleted") != std::string::npos) o.Set("active", false);
        slot = {e["created"].as_int(), o};
      }
      if (!events.empty()) cursor = events.front()["id"].as_string();
      if (!(*page)["has_more"].as_bool() || events.empty()) break;
    }
    if (!expired) {
      for (const auto& [id, v] : latest_products) out.products.push_back(ProductFromJson(v.second));
      for (const auto& [id, v] : latest_prices) out.prices.push_back(PriceFromJson(v.second));
      out.cursor = cursor;
      return out;
    }
  }
  // First run (or an expired cursor): note the newest catalog event, then read everything.
  auto latest = Get("/v1/events?limit=1&" + CatalogEventQuery());
  ++out.reads;
  if (!latest.ok()) return latest.status();
  for (const auto& e : (*latest)["data"].array()) out.cursor = e["id"].as_string();
  TANDEM_RETURN_IF_ERROR(List(
      "/v1/products",
      [&](const Json& j) {
        out.products.push_back(ProductFromJson(j));
        return Status::Ok();
      },
      &out.reads));
  TANDEM_RETURN_IF_ERROR(List(
      "/v1/prices",
      [&](const Json& j) {
        out.prices.push_back(PriceFromJson(j));
        return Status::Ok();
      },
      &out.reads));
  return out;
}

Result<Subscription> StripeBilling::CreateSubscription(const SubscriptionSpec& spec,
                                                       const std::string& key) {
  FormFields f = {{"customer", spec.account_id}};
  for (size_t i = 0; i < spec.items.size(); ++i) {
    const std::string p = "items[" + std::to_string(i) + "]";
    AddItemPrice(spec.items[i], p, &f);
    f.emplace_back(p + "[quantity]", std::to_string(spec.items[i].quantity));
    for (const auto& [k, v] : spec.items[i].metadata)
      f.emplace_back(p + "[metadata][" + k + "]", v);
  }
  if (spec.cancel_at > 0) f.emplace_back("cancel_at", std::to_string(spec.cancel_at));
  if (spec.start_at > 0) f.emplace_back("backdate_start_date", std::to_string(spec.start_at));
  if (!spec.start_active) {
    // Held until Start(): a trial nearly as long as Stripe allows (730 days from the request),
    // counted from the decision so that a retry sends the same trial_end.
    const int64_t from = spec.decided_at > 0 ? spec.decided_at : ToEpochMillis(clock_.Now()) / 1000;
    f.emplace_back("trial_end", std::to_string(from + 700 * 86'400));
  }
  f.emplace_back("proration_behavior", "none");
  AddMetadata(spec.metadata, &f);
  auto j = Post("/v1/subscriptions", f, key);
  if (!j.ok()) return j.status();
  return SubscriptionFromJson(*j);
}

Result<Subscription> StripeBilling::GetSubscription(const std::string& id) {
  // expand[] brings the latest invoice inline: its status without a second call.
  std::string path = "/v1/subscriptions/" + http::PercentEncode(id);
  if (options_.expand) path += "?" + http::FormEncode({{"expand[]", "latest_invoice"}});
  auto j = Get(path);
  if (!j.ok()) return j.status();
  return SubscriptionFromJson(*j);
}

Status StripeBilling::ListSubscriptions(
    const std::function<Status(const Subscription&)>& on_subscription) {
  // Without status=all Stripe leaves canceled subscriptions out.
  return List("/v1/subscriptions?status=all",
              [&](const Json& j) { return on_subscription(SubscriptionFromJson(j)); });
}

Result<std::optional<Subscription>> StripeBilling::FindSubscription(const std::string& account_id,
                                                                    const std::string& key,
                                                                    const std::string& value) {
  // The customer's list is read at once (the search API may lag behind a fresh create).
  std::optional<Subscription> found;
  Status st = List("/v1/subscriptions?status=all&customer=" + http::PercentEncode(account_id),
                   [&](const Json& j) {
                     Subscription s = SubscriptionFromJson(j);
                     auto it = s.metadata.find(key);
                     if (!found && it != s.metadata.end() && it->second == value)
                       found = std::move(s);
                     return Status::Ok();
                   });
  if (!st.ok()) return st;
  return found;
}

Result<Subscription> StripeBilling::Replace(const std::string& old_subscription_id,
                                            const SubscriptionSpec& spec, const std::string& key) {
  auto created = CreateSubscription(spec, key + ":new");
  if (!created.ok()) return created.status();
  auto old =
      Delete("/v1/subscriptions/" + http::PercentEncode(old_subscription_id), key + ":end-old");
  if (!old.ok()) return old.status().WithContext("replace: new " + created->id + " created");
  return created;
}

Result<Subscription> StripeBilling::StartSubscription(const std::string& id, int64_t start_at,
                                                      const std::string& key) {
  // A later start keeps the hold (a trial) until that date, which is what Stripe bills from;
  // the metadata tells the hold of a scheduled start from one awaiting activation.
  FormFields f = {{"trial_end", start_at > 0 ? std::to_string(start_at) : "now"}};
  if (start_at > 0)
    f.emplace_back("metadata[" + std::string(kStartAtKey) + "]", std::to_string(start_at));
  auto j = Post("/v1/subscriptions/" + http::PercentEncode(id), f, key);
  if (!j.ok()) return j.status();
  return SubscriptionFromJson(*j);
}

Result<Subscription> StripeBilling::ChangeQuantity(const std::string& subscription_id,
                                                   const std::string& item_id, int64_t quantity,
                                                   Proration proration, const std::string& key) {
  auto j = Post("/v1/subscriptions/" + http::PercentEncode(subscription_id),
                {{"items[0][id]", item_id},
                 {"items[0][quantity]", std::to_string(quantity)},
                 {"proration_behavior", ProrationBehavior(proration)}},
                key);
  if (!j.ok()) return j.status();
  return SubscriptionFromJson(*j);
}

Result<Subscription> StripeBilling::ChangePrice(const std::string& subscription_id,
                                                const std::string& item_id,
                                                const SubscriptionItem& to, Proration proration,
                                                const std::string& key) {
  FormFields f = {{"items[0][id]", item_id}};
  AddItemPrice(to, "items[0]", &f);
  for (const auto& [k, v] : to.metadata) f.emplace_back("items[0][metadata][" + k + "]", v);
  f.emplace_back("proration_behavior", ProrationBehavior(proration));
  auto j = Post("/v1/subscriptions/" + http::PercentEncode(subscription_id), f, key);
  if (!j.ok()) return j.status();
  return SubscriptionFromJson(*j);
}

Result<Subscription> StripeBilling::ReTerm(const std::string& subscription_id, int64_t cancel_at,
                                           const std::string& key) {
  auto j = Post("/v1/subscriptions/" + http::PercentEncode(subscription_id),
                {{"cancel_at", cancel_at > 0 ? std::to_string(cancel_at) : ""},
                 {"proration_behavior", "none"}},
                key);
  if (!j.ok()) return j.status();
  return SubscriptionFromJson(*j);
}

Result<Subscription> StripeBilling::Cancel(const std::string& subscription_id, bool at_period_end,
                                           const std::string& key) {
  Result<Json> j = at_period_end
                       ? Post("/v1/subscriptions/" + http::PercentEncode(subscription_id),
                              {{"cancel_at_period_end", "true"}}, key)
                       : Delete("/v1/subscriptions/" + http::PercentEncode(subscription_id), key);
  if (!j.ok()) return j.status();
  return SubscriptionFromJson(*j);
}

Result<Subscription> StripeBilling::Renew(const std::string& subscription_id, int64_t new_cancel_at,
                                          const std::string& key) {
  auto j = Post("/v1/subscriptions/" + http::PercentEncode(subscription_id),
                {{"cancel_at", new_cancel_at > 0 ? std::to_string(new_cancel_at) : ""},
                 {"cancel_at_period_end", "false"},
                 {"proration_behavior", "none"}},
                key);
  if (!j.ok()) return j.status();
  return SubscriptionFromJson(*j);
}

Result<SubscriptionItem> StripeBilling::AddAddOn(const std::string& subscription_id,
                                                 const SubscriptionItem& item, Proration proration,
                                                 const std::string& key) {
  FormFields f = {{"subscription", subscription_id}};
  AddItemPrice(item, "", &f);
  f.emplace_back("quantity", std::to_string(item.quantity));
  f.emplace_back("proration_behavior", ProrationBehavior(proration));
  AddMetadata(item.metadata, &f);
  auto j = Post("/v1/subscription_items", f, key);
  if (!j.ok()) return j.status();
  return ItemFromJson(*j);
}

Result<SubscriptionItem> StripeBilling::ChangeAddOn(const std::string& item_id, int64_t quantity,
                                                    Proration proration, const std::string& key) {
  auto j = Post("/v1/subscription_items/" + http::PercentEncode(item_id),
                {{"quantity", std::to_string(quantity)},
                 {"proration_behavior", ProrationBehavior(proration)}},
                key);
  if (!j.ok()) return j.status();
  return ItemFromJson(*j);
}

Status StripeBilling::RemoveAddOn(const std::string& item_id, Proration proration,
                                  const std::string& key) {
  auto j = Delete("/v1/subscription_items/" + http::PercentEncode(item_id) +
                      "?proration_behavior=" + ProrationBehavior(proration),
                  key);
  if (!j.ok() && !j.status().IsNotFound()) return j.status();  // already gone: the goal is met
  return Status::Ok();
}

Result<std::string> StripeBilling::AddOneTimeCharge(const OneTimeCharge& c,
                                                    const std::string& key) {
  FormFields f = {{"customer", c.account_id},
                  {"amount", std::to_string(c.amount_minor)},
                  {"currency", Lower(c.currency)}};
  AddIfSet(&f, "description", c.description);
  AddIfSet(&f, "subscription", c.subscription_id);
  AddMetadata(c.metadata, &f);
  auto j = Post("/v1/invoiceitems", f, key);
  if (!j.ok()) return j.status();
  return (*j)["id"].as_string();
}

Status StripeBilling::RecordUsage(const UsageRecord& u, const std::string& key) {
  auto j = Post(
      "/v1/subscription_items/" + http::PercentEncode(u.subscription_item_id) + "/usage_records",
      {{"quantity", std::to_string(u.quantity)},
       {"timestamp", std::to_string(u.timestamp)},
       {"action", u.set ? "set" : "increment"}},
      key);
  return j.ok() ? Status::Ok() : j.status();
}

Status StripeBilling::ListInvoices(const std::string& account_id,
                                   const std::function<Status(const Invoice&)>& on_invoice) {
  FormFields q;
  if (!account_id.empty()) q.emplace_back("customer", account_id);
  // The charge inline: what was refunded of each invoice's payment, without a call per invoice.
  if (options_.expand) q.emplace_back("expand[]", "data.charge");
  const std::string path = q.empty() ? "/v1/invoices" : "/v1/invoices?" + http::FormEncode(q);
  return List(path, [&](const Json& j) { return on_invoice(InvoiceFromJson(j)); });
}

Result<Invoice> StripeBilling::GetInvoice(const std::string& id) {
  std::string path = "/v1/invoices/" + http::PercentEncode(id);
  if (options_.expand) path += "?" + http::FormEncode({{"expand[]", "charge"}});
  auto j = Get(path);
  if (!j.ok()) return j.status();
  return InvoiceFromJson(*j);
}

Result<Payment> StripeBilling::GetPayment(const std::string& id) {
  auto j = Get("/v1/charges/" + http::PercentEncode(id));
  if (!j.ok()) return j.status();
  return ChargeFromJson(*j);
}

Status StripeBilling::ListRefunds(const Payment& charge, std::map<std::string, int64_t>* refunded,
                                  const std::function<Status(const Payment&)>& on_payment) {
  if (charge.refunded_minor == 0) return Status::Ok();  // none: no call
  return List("/v1/refunds?charge=" + http::PercentEncode(charge.id), [&](const Json& j) {
    Payment r = RefundFromJson(j);
    r.account_id = charge.account_id;
    r.invoice_id = charge.invoice_id;
    (*refunded)[r.id] = -r.amount_minor;
    return on_payment(r);
  });
}

Result<Payment> StripeBilling::CreditNote(const Json& j, std::map<std::string, int64_t>* refunded) {
  Payment cn = CreditNoteFromJson(j);
  if (!cn.payment_id.empty()) {
    auto it = refunded->find(cn.payment_id);
    if (it == refunded->end()) {  // a refund of a charge not read here
      auto r = Get("/v1/refunds/" + http::PercentEncode(cn.payment_id));
      if (!r.ok()) return r.status();
      it = refunded->emplace(cn.payment_id, (*r)["amount"].as_int()).first;
    }
    // The refund is an entry of its own: the credit note carries the rest.
    cn.amount_minor = std::min<int64_t>(0, cn.amount_minor + it->second);
  }
  return cn;
}

Status StripeBilling::ListPayments(const std::string& account_id,
                                   const std::function<Status(const Payment&)>& on_payment) {
  std::vector<Payment> refunded_charges;
  TANDEM_RETURN_IF_ERROR(
      List("/v1/charges?customer=" + http::PercentEncode(account_id), [&](const Json& j) {
        Payment p = ChargeFromJson(j);
        if (p.refunded_minor > 0) refunded_charges.push_back(p);
        return on_payment(p);
      }));
  std::map<std::string, int64_t> refunded;
  for (const Payment& charge : refunded_charges)
    TANDEM_RETURN_IF_ERROR(ListRefunds(charge, &refunded, on_payment));
  return List("/v1/credit_notes?customer=" + http::PercentEncode(account_id), [&](const Json& j) {
    auto cn = CreditNote(j, &refunded);
    if (!cn.ok()) return cn.status();
    return on_payment(*cn);
  });
}

Status StripeBilling::ListInvoicePayments(const Invoice& invoice,
                                          const std::function<Status(const Payment&)>& on_payment) {
  std::map<std::string, int64_t> refunded;
  if (!invoice.charge_id.empty()) {
    Payment charge;
    if (invoice.payment) {
      charge = *invoice.payment;
    } else {
      auto read = GetPayment(invoice.charge_id);
      if (!read.ok()) return read.status();
      charge = *read;
    }
    TANDEM_RETURN_IF_ERROR(on_payment(charge));
    TANDEM_RETURN_IF_ERROR(ListRefunds(charge, &refunded, on_payment));
  }
  // Read even when `credited` is 0: a voided credit note no longer counts there.
  return List("/v1/credit_notes?invoice=" + http::PercentEncode(invoice.id), [&](const Json& j) {
    auto cn = CreditNote(j, &refunded);
    if (!cn.ok()) return cn.status();
    return on_payment(*cn);
  });
}

Result<BillingEvent> StripeBilling::VerifyWebhook(const std::string& payload,
                                                  const std::string& signature_header,
                                                  int64_t now_epoch_s) const {
  TANDEM_RETURN_IF_ERROR(VerifySignature(payload, signature_header, options_.webhook_secret,
                                         now_epoch_s, options_.webhook_tolerance_s));
  return stripe::ParseEvent(payload);
}

Result<BillingEvent> StripeBilling::ParseEvent(const std::string& payload) const {
  return stripe::ParseEvent(payload);
}

}  // namespace tandem::connector::billing::stripe
