#include "workorders/templates.h"

#include <algorithm>
#include <cctype>
#include <set>

#include <yaml-cpp/yaml.h>

namespace tandem::workorders {

const std::vector<std::string>& KnownTaskKinds() {
  static const std::vector<std::string> kKinds = {"sync_account",
                                                  "create_subscription",
                                                  "start_subscription",
                                                  "record_subscription",
                                                  "add_add_on",
                                                  "change_add_on",
                                                  "remove_add_on",
                                                  "one_time_charge",
                                                  "record_add_on",
                                                  "change_quantity",
                                                  "change_price",
                                                  "re_term",
                                                  "cancel",
                                                  "charge_early_termination",
                                                  "renew",
                                                  "replace"};
  return kKinds;
}

const std::vector<std::string>& KnownOperations() {
  static const std::vector<std::string> kOps = {"new",     "change", "replace", "re-rate",
                                                "re-term", "cancel", "renew"};
  return kOps;
}

std::string NormalizeOperation(const std::string& crm_value) {
  std::string s;
  for (unsigned char c : crm_value) s.push_back(static_cast<char>(std::tolower(c)));
  const auto& ops = KnownOperations();
  return std::find(ops.begin(), ops.end(), s) == ops.end() ? "" : s;
}

int Template::Specificity() const {
  if (!product_code.empty()) return 3;
  if (!product_family.empty()) return 2;
  if (!product_kind.empty()) return 1;
  return 0;
}

const Template* Templates::Find(const std::string& operation, const std::string& code,
                                const std::string& family, const std::string& kind) const {
  const Template* best = nullptr;
  for (const auto& t : templates) {
    if (t.operation != operation) continue;
    if (!t.product_code.empty() && t.product_code != code) continue;
    if (!t.product_family.empty() && t.product_family != family) continue;
    if (!t.product_kind.empty() && t.product_kind != kind) continue;
    if (!best || t.Specificity() > best->Specificity()) best = &t;  // first of equals wins
  }
  return best;
}

namespace {

class Parser {
 public:
  explicit Parser(std::string file) : file_(std::move(file)) {}

  void Error(const YAML::Node& n, const std::string& path, const std::string& msg) {
    const auto m = n.Mark();
    errors_.push_back(file_ + ":" + std::to_string(m.line + 1) + ":" +
                      std::to_string(m.column + 1) + ": " + path + ": " + msg);
  }
  bool Keys(const YAML::Node& n, const std::string& path, const std::set<std::string>& allowed) {
    if (!n.IsMap()) {
      Error(n, path, "expected a mapping");
      return false;
    }
    for (const auto& kv : n) {
      const std::string k = kv.first.as<std::string>();
      if (!allowed.count(k)) Error(kv.first, path + "." + k, "unknown key");
    }
    return true;
  }
  std::string Str(const YAML::Node& n, const std::string& path) {
    if (!n.IsScalar()) {
      Error(n, path, "expected a single value");
      return "";
    }
    return n.as<std::string>();
  }
  double Percent(const YAML::Node& n, const std::string& path) {
    try {
      const double v = n.as<double>();
      if (v >= 0 && v <= 100) return v;
    } catch (const YAML::Exception&) {
    }
    Error(n, path, "expected a percentage from 0 to 100");
    return -1;
  }

  Templates Parse(const YAML::Node& root) {
    Templates out;
    out.source = file_;
    if (!Keys(root, "workorders", {"version", "early_termination_percent", "templates"}))
      return out;
    if (root["version"].IsDefined() && Str(root["version"], "version") != "1")
      Error(root["version"], "version", "only version 1 is known");
    if (root["early_termination_percent"].IsDefined())
      out.early_termination_percent =
          Percent(root["early_termination_percent"], "early_termination_percent");
    const YAML::Node list = root["templates"];
    if (!list.IsSequence()) {
      Error(list.IsDefined() ? list : root, "templates", "expected a list of templates");
      return out;
    }
    for (size_t i = 0; i < list.size(); ++i) {
      const YAML::Node n = list[i];
      const std::string path = "templates[" + std::to_string(i) + "]";
      if (!Keys(n, path,
                {"name", "operation", "product", "tasks", "early_termination_percent",
                 "at_term_end", "proration"}))
        continue;
      Template t;
      t.line = static_cast<int>(n.Mark().line) + 1;
      if (n["name"].IsDefined()) t.name = Str(n["name"], path + ".name");
      t.operation = n["operation"].IsDefined()
                        ? NormalizeOperation(Str(n["operation"], path + ".operation"))
                        : "";
      if (t.operation.empty())
        Error(n["operation"].IsDefined() ? n["operation"] : n, path + ".operation",
              "expected one of new, change, replace, re-rate, re-term, cancel, renew");
      if (const YAML::Node p = n["product"]; p.IsDefined()) {
        if (Keys(p, path + ".product", {"code", "family", "kind"})) {
          if (p["code"].IsDefined()) t.product_code = Str(p["code"], path + ".product.code");
          if (p["family"].IsDefined())
            t.product_family = Str(p["family"], path + ".product.family");
          if (p["kind"].IsDefined()) {
            t.product_kind = Str(p["kind"], path + ".product.kind");
            if (t.product_kind != "base" && t.product_kind != "add_on" && t.product_kind != "fee")
              Error(p["kind"], path + ".product.kind", "expected base, add_on or fee");
          }
        }
      }
      const YAML::Node tasks = n["tasks"];
      if (!tasks.IsSequence() || tasks.size() == 0) {
        Error(tasks.IsDefined() ? tasks : n, path + ".tasks", "expected a list of task kinds");
      } else {
        for (size_t k = 0; k < tasks.size(); ++k) {
          const std::string kind = Str(tasks[k], path + ".tasks[" + std::to_string(k) + "]");
          const auto& known = KnownTaskKinds();
          if (std::find(known.begin(), known.end(), kind) == known.end()) {
            std::string list_text;
            for (const auto& x : known) list_text += (list_text.empty() ? "" : ", ") + x;
            Error(tasks[k], path + ".tasks[" + std::to_string(k) + "]",
                  "unknown task '" + kind + "' (known: " + list_text + ")");
          }
          t.tasks.push_back(kind);
        }
      }
      if (n["early_termination_percent"].IsDefined())
        t.early_termination_percent =
            Percent(n["early_termination_percent"], path + ".early_termination_percent");
      if (n["at_term_end"].IsDefined()) {
        try {
          t.at_term_end = n["at_term_end"].as<bool>();
        } catch (const YAML::Exception&) {
          Error(n["at_term_end"], path + ".at_term_end", "expected true or false");
        }
      }
      if (n["proration"].IsDefined()) {
        t.proration = Str(n["proration"], path + ".proration");
        if (t.proration != "prorate" && t.proration != "none")
          Error(n["proration"], path + ".proration", "expected prorate or none");
      }
      if (t.name.empty())
        t.name = t.operation + " " + (t.product_code.empty() ? "" : t.product_code);
      out.templates.push_back(std::move(t));
    }
    return out;
  }

  std::vector<std::string> errors_;

 private:
  std::string file_;
};

}  // namespace

Result<Templates> ParseTemplates(const std::string& yaml_text, const std::string& file_name) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::ParserException& e) {
    return Status::InvalidArgument(file_name + ":" + std::to_string(e.mark.line + 1) + ":" +
                                   std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  Parser p(file_name);
  Templates t = p.Parse(root);
  if (!p.errors_.empty()) {
    std::string all;
    for (const auto& e : p.errors_) all += (all.empty() ? "" : "\n") + e;
    return Status::InvalidArgument(all);
  }
  return t;
}

}  // namespace tandem::workorders
