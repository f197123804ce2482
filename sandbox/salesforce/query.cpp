// SOQL: reading (dotted) fields of records, running a parsed query (filter, order, offset,
// limit, COUNT()), rendering records, and pages through query locators.
#include <algorithm>
#include <cstdlib>
#include <functional>
#include <set>
#include <unordered_set>

#include "sandbox/salesforce/internal.h"

namespace tandem::sandbox::salesforce {

std::optional<value> SalesforceSandbox::Impl::ReadPath(const Table& table, const value& record,
                                                       const std::string& path, int depth) {
  const auto dot = path.find('.');
  if (dot == std::string::npos) {
    const FieldDef* f = table.def->Field(path);
    if (!f) return std::nullopt;
    return record.has_field(f->name) ? record.at(f->name) : value::null();
  }
  if (depth > 5) return std::nullopt;
  const FieldDef* rel = table.def->Relationship(path.substr(0, dot));
  if (!rel) return std::nullopt;
  Table* target = FindTable(rel->reference_to);
  if (!target) return std::nullopt;
  if (!record.has_field(rel->name) || record.at(rel->name).is_null()) {
    // Validate the rest of the path even when the parent is empty.
    if (!ReadPath(*target, value::object(), path.substr(dot + 1), depth + 1)) return std::nullopt;
    return value::null();
  }
  auto parent = target->by_id.find(record.at(rel->name).as_string());
  if (parent == target->by_id.end()) return value::null();
  return ReadPath(*target, parent->second, path.substr(dot + 1), depth + 1);
}

SoqlValue SalesforceSandbox::Impl::ToSoql(const Table& table, const std::string& path,
                                          const value& v) {
  SoqlValue out;
  if (v.is_null()) return out;
  if (v.is_boolean()) {
    out.kind = SoqlLiteral::Kind::kBool;
    out.b = v.as_bool();
    return out;
  }
  if (v.is_number()) {
    out.kind = SoqlLiteral::Kind::kNumber;
    out.number = v.as_double();
    return out;
  }
  out.kind = SoqlLiteral::Kind::kString;
  out.text = v.is_string() ? v.as_string() : v.serialize();
  (void)table;
  (void)path;
  bool is_date = false;
  int64_t ms = 0;
  if (out.text.size() >= 10 && out.text[4] == '-' && ParseSoqlDateTime(out.text, &is_date, &ms)) {
    out.kind = is_date ? SoqlLiteral::Kind::kDate : SoqlLiteral::Kind::kDateTime;
    out.epoch_ms = ms;
  }
  return out;
}

value SalesforceSandbox::Impl::Attributes(const std::string& type, const std::string& id) {
  value a = value::object();
  a["type"] = value::string(type);
  a["url"] = value::string("/services/data/v61.0/sobjects/" + type + "/" + id);
  return a;
}

value SalesforceSandbox::Impl::Render(const Table& table, const value& record,
                                      const std::vector<std::string>& fields) {
  value out = value::object();
  out["attributes"] = Attributes(table.def->name, record.at("Id").as_string());
  for (const auto& path : fields) {
    const auto dot = path.find('.');
    if (dot == std::string::npos) {
      const FieldDef* f = table.def->Field(path);
      out[f->name] = record.has_field(f->name) ? record.at(f->name) : value::null();
      continue;
    }
    const FieldDef* rel = table.def->Relationship(path.substr(0, dot));
    Table* target = FindTable(rel->reference_to);
    const std::string& rel_name = rel->relationship_name;
    if (!record.has_field(rel->name) || record.at(rel->name).is_null()) {
      out[rel_name] = value::null();
      continue;
    }
    auto parent = target->by_id.find(record.at(rel->name).as_string());
    if (parent == target->by_id.end()) {
      out[rel_name] = value::null();
      continue;
    }
    value nested = out.has_field(rel_name) && out.at(rel_name).is_object() ? out.at(rel_name)
                                                                           : value::object();
    value sub = Render(*target, parent->second, {path.substr(dot + 1)});
    for (const auto& kv : sub.as_object()) {
      if (kv.first == "attributes" && nested.has_field("attributes")) continue;
      nested[kv.first] = kv.second;
    }
    out[rel_name] = nested;
  }
  return out;
}

value SalesforceSandbox::Impl::Page(Locator& loc, const std::string& locator_id,
                                    const std::string& version) {
  Table* table = FindTable(loc.object);
  value records = value::array();
  size_t n = 0;
  while (loc.next < loc.ids.size() && static_cast<int>(n) < loc.page_size) {
    auto it = table->by_id.find(loc.ids[loc.next++]);
    if (it == table->by_id.end()) continue;  // deleted since the query ran
    records[n++] = Render(*table, it->second, loc.fields);
  }
  value out = value::object();
  out["totalSize"] = value::number(loc.total);
  const bool done = loc.next >= loc.ids.size();
  out["done"] = value::boolean(done);
  out["records"] = records;
  if (!done)
    out["nextRecordsUrl"] = value::string("/services/data/v" + version + "/query/" + locator_id +
                                          "-" + std::to_string(loc.next));
  return out;
}

std::pair<int, value> SalesforceSandbox::Impl::RunQuery(const std::string& soql, int page_size,
                                                        const std::string& version) {
  auto malformed = [](const std::string& msg) {
    return std::make_pair(400, ErrorList({SfError{"MALFORMED_QUERY", msg, {}}}, false));
  };
  SoqlParseResult parsed = ParseSoql(soql);
  if (!parsed.query) return malformed(parsed.error);
  const SoqlQuery& q = *parsed.query;
  Table* table = FindTable(q.object);
  if (!table)
    return {400,
            ErrorList(
                {SfError{"INVALID_TYPE", "sObject type '" + q.object + "' is not supported.", {}}},
                false)};
  if (auto unknown = UnknownField(q, table))
    return {
        400,
        ErrorList({SfError{"INVALID_FIELD",
                           "No such column '" + *unknown + "' on entity '" + table->def->name + "'",
                           {}}},
                  false)};
  std::vector<std::string> ids = MatchingIds(q, table);
  if (!q.order_by.empty()) SortIds(q, table, &ids);
  const size_t offset = static_cast<size_t>(q.offset.value_or(0));
  ids.erase(ids.begin(), ids.begin() + static_cast<long>(std::min(offset, ids.size())));
  if (q.limit && ids.size() > static_cast<size_t>(*q.limit))
    ids.resize(static_cast<size_t>(*q.limit));
  if (q.count_only) {
    value out = value::object();
    out["totalSize"] = value::number(static_cast<int64_t>(ids.size()));
    out["done"] = value::boolean(true);
    out["records"] = value::array();
    return {200, out};
  }
  const std::string locator_id = MakeId("01g", ++locator_seq);
  Locator loc;
  loc.object = table->def->name;
  loc.fields = q.fields;
  loc.total = static_cast<int64_t>(ids.size());
  loc.ids = std::move(ids);
  loc.page_size = page_size;
  value page = Page(loc, locator_id, version);
  if (loc.next < loc.ids.size()) locators[locator_id] = std::move(loc);
  return {200, page};
}

// Every field named anywhere must exist: the first that does not, if any.
std::optional<std::string> SalesforceSandbox::Impl::UnknownField(const SoqlQuery& q, Table* table) {
  std::vector<std::string> names = q.fields;
  for (const auto& o : q.order_by) names.push_back(o.field);
  std::function<void(const SoqlExpr&)> collect = [&](const SoqlExpr& e) {
    if (e.kind == SoqlExpr::Kind::kCompare) names.push_back(e.field);
    for (const auto& c : e.children) collect(*c);
  };
  if (q.where) collect(*q.where);
  for (const auto& n : names) {
    if (!ReadPath(*table, value::object(), n)) return n;
  }
  return std::nullopt;
}

// The ids of the records the WHERE clause keeps, in creation order.
std::vector<std::string> SalesforceSandbox::Impl::MatchingIds(const SoqlQuery& q, Table* table) {
  std::vector<std::string> ids;
  // WHERE Id = / IN (...) at the top level reads those records only, as the real
  // query optimizer would use the primary key (a scan per query made big loads quadratic).
  const std::vector<std::string>* scan = &table->order;
  std::vector<std::string> by_key;
  const SoqlExpr* top = q.where.get();
  if (top && top->kind == SoqlExpr::Kind::kCompare && (top->op == "=" || top->op == "IN") &&
      Lower(top->field) == "id") {
    std::set<std::string> wanted;
    for (const auto& v : top->values)
      if (table->by_id.count(v.text)) wanted.insert(v.text);
    by_key.assign(wanted.begin(), wanted.end());  // ids sort in creation order
    scan = &by_key;
  }
  // Any other field = / IN ('a', 'b', ...) at the top level: each record's value is looked
  // up in a set first, as an indexed lookup field would be (an IN of 200 ids compared value by
  // value made a page-by-page read of a big table quadratic). The full WHERE still decides.
  std::unordered_set<std::string> candidates;
  std::string candidate_field;
  if (scan == &table->order && top && top->kind == SoqlExpr::Kind::kCompare &&
      (top->op == "=" || top->op == "IN") && top->field.find('.') == std::string::npos &&
      table->def->Field(top->field)) {
    candidate_field = table->def->Field(top->field)->name;
    for (const auto& v : top->values) {
      bool is_date = false;
      int64_t ms = 0;
      if (v.kind != SoqlLiteral::Kind::kString || ParseSoqlDateTime(v.text, &is_date, &ms)) {
        candidate_field.clear();  // not a plain text match: evaluate every record
        break;
      }
      candidates.insert(Lower(v.text));
    }
  }
  for (const auto& id : *scan) {
    auto it = table->by_id.find(id);
    if (it == table->by_id.end()) continue;
    const value& rec = it->second;
    if (!candidate_field.empty() && rec.has_field(candidate_field) &&
        rec.at(candidate_field).is_string() &&
        !candidates.count(Lower(rec.at(candidate_field).as_string())))
      continue;
    if (q.where) {
      FieldReader reader = [&](const std::string& field) -> std::optional<SoqlValue> {
        auto v = ReadPath(*table, rec, field);
        if (!v) return std::nullopt;
        return ToSoql(*table, field, *v);
      };
      if (!EvaluateSoql(*q.where, reader)) continue;
    }
    ids.push_back(id);
  }
  return ids;
}

void SalesforceSandbox::Impl::SortIds(const SoqlQuery& q, Table* table,
                                      std::vector<std::string>* ids_out) {
  std::vector<std::string>& ids = *ids_out;
  std::stable_sort(ids.begin(), ids.end(), [&](const std::string& a, const std::string& b) {
    for (const auto& o : q.order_by) {
      const SoqlValue va = ToSoql(*table, o.field, *ReadPath(*table, table->by_id.at(a), o.field));
      const SoqlValue vb = ToSoql(*table, o.field, *ReadPath(*table, table->by_id.at(b), o.field));
      const bool na = va.kind == SoqlLiteral::Kind::kNull, nb = vb.kind == SoqlLiteral::Kind::kNull;
      if (na != nb) return o.nulls_first ? na : nb;
      const int c = CompareSoqlValues(va, vb);
      if (c != 0) return o.ascending ? c < 0 : c > 0;
    }
    return false;
  });
}

Reply Handler::Query(const Segments& seg) {
  int page = s_.options.default_page_size;
  const std::string opts = Header("Sforce-Query-Options");
  if (auto p = opts.find("batchSize="); p != std::string::npos) {
    page = std::atoi(opts.c_str() + p + 10);
    page = std::clamp(page, 200, 2000);
  }
  if (seg.size() == 4) {
    const std::string q = QueryParam("q");
    if (q.empty()) return Errors(400, "MALFORMED_QUERY", "a query is required (q=)");
    auto [status, body] = s_.RunQuery(q, page, version_);
    return JsonReply(status, body);
  }
  // query/<locator>-<position>
  const std::string& next = seg[4];
  const auto dash = next.find('-');
  auto it = s_.locators.find(next.substr(0, dash));
  if (it == s_.locators.end() || dash == std::string::npos)
    return Errors(400, "INVALID_QUERY_LOCATOR", "invalid query locator");
  Locator& loc = it->second;
  loc.next = static_cast<size_t>(std::max(0L, std::atol(next.c_str() + dash + 1)));
  value page_json = s_.Page(loc, it->first, version_);
  if (loc.next >= loc.ids.size()) s_.locators.erase(it);
  return JsonReply(200, page_json);
}

}  // namespace tandem::sandbox::salesforce
