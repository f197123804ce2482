// Step 4 (process design): work-order templates. Each template matches an operation type
// (new, change, replace, re-rate, re-term, cancel, renew) and optionally a product (by
// code, family or kind), and lists the tasks to run for one order item, in order — e.g. New
// "Virtual Server", Cancel "SIP Trunk". The most specific match wins: code, then family,
// then kind, then a template for any product.
// Thread-safety: immutable after parsing.
#pragma once

#include <string>
#include <vector>

#include "util/result.h"

namespace tandem::workorders {

// The tasks the library knows (workorders/tasks.h).
const std::vector<std::string>& KnownTaskKinds();
// The operation types an order or order item may carry.
const std::vector<std::string>& KnownOperations();
// "Re-rate" → "re-rate"; "" when unknown.
std::string NormalizeOperation(const std::string& crm_value);

struct Template {
  std::string name;
  std::string operation;                                   // new | change | ... | renew
  std::string product_code, product_family, product_kind;  // all empty: any product
  std::vector<std::string> tasks;
  double early_termination_percent = -1;  // < 0: the file's default
  bool at_term_end = false;               // cancel: at the end of the term (no fee)
  // Mid-period changes: "prorate" (the default: the part of the period a change affects is
  // credited or charged now, as billing systems do by default) or "none" (the change bills
  // from the next period).
  std::string proration = "prorate";
  int line = 0;

  int Specificity() const;  // code 3, family 2, kind 1, any 0
};

struct Templates {
  std::string source;
  double early_termination_percent = 0;  // the default for templates that set none
  std::vector<Template> templates;

  // The template for one item; nullptr when none matches.
  const Template* Find(const std::string& operation, const std::string& product_code,
                       const std::string& product_family, const std::string& product_kind) const;
  double EarlyTerminationPercent(const Template& t) const {
    return t.early_termination_percent >= 0 ? t.early_termination_percent
                                            : early_termination_percent;
  }
};

// Parses config/workorders.yaml. InvalidArgument listing each problem as
// "FILE:LINE:COL: PATH: what was expected".
Result<Templates> ParseTemplates(const std::string& yaml_text, const std::string& file_name);

}  // namespace tandem::workorders
