#include "sandbox/salesforce/soql_parser.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>

namespace tandem::sandbox::salesforce {
namespace {

constexpr int kMaxDepth = 64;  // nesting of parentheses / NOT

struct Token {
  enum class Kind { kWord, kString, kNumber, kDateTime, kSymbol, kEnd } kind = Kind::kEnd;
  std::string text;  // word (as written), string (unescaped), number/date text, symbol
  size_t pos = 0;
};

std::string Upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  // Howard Hinnant's days_from_civil.
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

class Lexer {
 public:
  explicit Lexer(const std::string& s) : s_(s) {}

  bool Next(Token* t, std::string* error) {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
    t->pos = pos_;
    t->text.clear();
    if (pos_ >= s_.size()) {
      t->kind = Token::Kind::kEnd;
      return true;
    }
    const char c = s_[pos_];
    if (c == '\'') return String(t, error);
    if (std::isdigit(static_cast<unsigned char>(c)) ||
        ((c == '-' || c == '+') && pos_ + 1 < s_.size() &&
         std::isdigit(static_cast<unsigned char>(s_[pos_ + 1])))) {
      return NumberOrDate(t);
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t end = pos_;
      while (end < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[end])) ||
                                 s_[end] == '_' || s_[end] == '.'))
        ++end;
      t->kind = Token::Kind::kWord;
      t->text = s_.substr(pos_, end - pos_);
      pos_ = end;
      return true;
    }
    static const char* kTwo[] = {"!=", "<>", "<=", ">="};
    for (const char* two : kTwo) {
      if (s_.compare(pos_, 2, two) == 0) {
        t->kind = Token::Kind::kSymbol;
        t->text = two;
        pos_ += 2;
        return true;
      }
    }
    if (std::string("=<>(),").find(c) != std::string::npos) {
      t->kind = Token::Kind::kSymbol;
      t->text = std::string(1, c);
      ++pos_;
      return true;
    }
    *error = "unexpected character '" + std::string(1, c) + "' at position " + std::to_string(pos_);
    return false;
  }

 private:
  bool String(Token* t, std::string* error) {
    ++pos_;
    std::string out;
    while (pos_ < s_.size()) {
      const char c = s_[pos_++];
      if (c == '\'') {
        t->kind = Token::Kind::kString;
        t->text = std::move(out);
        return true;
      }
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (pos_ >= s_.size()) break;
      const char e = s_[pos_++];
      switch (e) {
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case '\'':
        case '"':
        case '\\':
          out.push_back(e);
          break;
        // LIKE wildcards stay escaped so the matcher can tell them from real wildcards.
        case '%':
          out.append("\\%");
          break;
        case '_':
          out.append("\\_");
          break;
        default:
          *error = "invalid escape sequence '\\" + std::string(1, e) + "' at position " +
                   std::to_string(pos_ - 2);
          return false;
      }
    }
    *error = "unterminated string starting at position " + std::to_string(t->pos);
    return false;
  }

  bool NumberOrDate(Token* t) {
    size_t end = pos_;
    if (s_[end] == '-' || s_[end] == '+') ++end;
    while (end < s_.size() &&
           (std::isalnum(static_cast<unsigned char>(s_[end])) || s_[end] == '.' || s_[end] == ':' ||
            s_[end] == '-' || s_[end] == '+'))
      ++end;
    t->text = s_.substr(pos_, end - pos_);
    bool is_date = false;
    int64_t ms = 0;
    t->kind =
        ParseSoqlDateTime(t->text, &is_date, &ms) ? Token::Kind::kDateTime : Token::Kind::kNumber;
    pos_ = end;
    return true;
  }

  const std::string& s_;
  size_t pos_ = 0;
};

class Parser {
 public:
  explicit Parser(const std::string& text) : text_(text), lexer_(text) {}

  SoqlParseResult Run() {
    SoqlParseResult result;
    auto q = std::make_unique<SoqlQuery>();
    if (!Advance() || !ParseQuery(q.get())) {
      result.error = error_;
      return result;
    }
    result.query = std::move(q);
    return result;
  }

 private:
  bool Advance() { return lexer_.Next(&tok_, &error_); }

  bool Fail(const std::string& what) {
    if (error_.empty()) {
      error_ = what + " at position " + std::to_string(tok_.pos);
      if (tok_.kind != Token::Kind::kEnd) error_ += " (near '" + tok_.text + "')";
    }
    return false;
  }

  bool IsKeyword(const char* kw) const {
    return tok_.kind == Token::Kind::kWord && Upper(tok_.text) == kw;
  }
  bool IsSymbol(const char* s) const { return tok_.kind == Token::Kind::kSymbol && tok_.text == s; }

  bool ExpectKeyword(const char* kw) {
    if (!IsKeyword(kw)) return Fail(std::string("expected ") + kw);
    return Advance();
  }

  static bool ValidFieldName(const std::string& name) {
    if (name.empty() || name.front() == '.' || name.back() == '.') return false;
    return name.find("..") == std::string::npos;
  }

  bool ParseQuery(SoqlQuery* q) {
    if (!ExpectKeyword("SELECT")) return false;
    if (IsKeyword("COUNT")) {
      if (!Advance()) return false;
      if (!IsSymbol("(")) return Fail("expected '(' after COUNT");
      if (!Advance()) return false;
      if (!IsSymbol(")")) return Fail("expected ')' (only COUNT() is supported)");
      if (!Advance()) return false;
      q->count_only = true;
    } else {
      for (;;) {
        if (tok_.kind != Token::Kind::kWord || IsKeyword("FROM"))
          return Fail("expected a field name");
        if (!ValidFieldName(tok_.text)) return Fail("invalid field name");
        q->fields.push_back(tok_.text);
        if (!Advance()) return false;
        if (!IsSymbol(",")) break;
        if (!Advance()) return false;
      }
    }
    if (!ExpectKeyword("FROM")) return false;
    if (tok_.kind != Token::Kind::kWord || tok_.text.find('.') != std::string::npos)
      return Fail("expected an object name");
    q->object = tok_.text;
    if (!Advance()) return false;
    if (IsKeyword("WHERE")) {
      if (!Advance()) return false;
      if (!ParseOr(&q->where, 0)) return false;
    }
    if (IsKeyword("ORDER")) {
      if (!Advance() || !ExpectKeyword("BY")) return false;
      for (;;) {
        if (tok_.kind != Token::Kind::kWord || !ValidFieldName(tok_.text))
          return Fail("expected a field name in ORDER BY");
        SoqlOrder o;
        o.field = tok_.text;
        if (!Advance()) return false;
        if (IsKeyword("ASC") || IsKeyword("DESC")) {
          o.ascending = IsKeyword("ASC");
          if (!Advance()) return false;
        }
        o.nulls_first = o.ascending;
        if (IsKeyword("NULLS")) {
          if (!Advance()) return false;
          if (!IsKeyword("FIRST") && !IsKeyword("LAST")) return Fail("expected FIRST or LAST");
          o.nulls_first = IsKeyword("FIRST");
          if (!Advance()) return false;
        }
        q->order_by.push_back(o);
        if (!IsSymbol(",")) break;
        if (!Advance()) return false;
      }
    }
    if (IsKeyword("LIMIT")) {
      if (!Advance()) return false;
      int64_t n;
      if (!Integer(&n)) return false;
      q->limit = n;
    }
    if (IsKeyword("OFFSET")) {
      if (!Advance()) return false;
      int64_t n;
      if (!Integer(&n)) return false;
      if (n > 2000) return Fail("maximum SOQL offset allowed is 2000");
      q->offset = n;
    }
    if (tok_.kind != Token::Kind::kEnd) return Fail("unexpected token");
    return true;
  }

  bool Integer(int64_t* out) {
    if (tok_.kind != Token::Kind::kNumber) return Fail("expected a non-negative integer");
    const std::string& t = tok_.text;
    if (t.empty() || t.size() > 12 || !std::all_of(t.begin(), t.end(), [](char c) {
          return std::isdigit(static_cast<unsigned char>(c));
        }))
      return Fail("expected a non-negative integer");
    *out = std::stoll(t);
    return Advance();
  }

  bool ParseOr(std::unique_ptr<SoqlExpr>* out, int depth) {
    if (!ParseAnd(out, depth)) return false;
    while (IsKeyword("OR")) {
      if (!Advance()) return false;
      std::unique_ptr<SoqlExpr> rhs;
      if (!ParseAnd(&rhs, depth)) return false;
      auto node = std::make_unique<SoqlExpr>();
      node->kind = SoqlExpr::Kind::kOr;
      node->children.push_back(std::move(*out));
      node->children.push_back(std::move(rhs));
      *out = std::move(node);
    }
    return true;
  }

  bool ParseAnd(std::unique_ptr<SoqlExpr>* out, int depth) {
    if (!ParseUnary(out, depth)) return false;
    while (IsKeyword("AND")) {
      if (!Advance()) return false;
      std::unique_ptr<SoqlExpr> rhs;
      if (!ParseUnary(&rhs, depth)) return false;
      auto node = std::make_unique<SoqlExpr>();
      node->kind = SoqlExpr::Kind::kAnd;
      node->children.push_back(std::move(*out));
      node->children.push_back(std::move(rhs));
      *out = std::move(node);
    }
    return true;
  }

  bool ParseUnary(std::unique_ptr<SoqlExpr>* out, int depth) {
    if (depth > kMaxDepth) return Fail("condition nested too deeply");
    if (IsKeyword("NOT")) {
      if (!Advance()) return false;
      auto node = std::make_unique<SoqlExpr>();
      node->kind = SoqlExpr::Kind::kNot;
      std::unique_ptr<SoqlExpr> inner;
      if (!ParseUnary(&inner, depth + 1)) return false;
      node->children.push_back(std::move(inner));
      *out = std::move(node);
      return true;
    }
    if (IsSymbol("(")) {
      if (!Advance()) return false;
      if (!ParseOr(out, depth + 1)) return false;
      if (!IsSymbol(")")) return Fail("expected ')'");
      return Advance();
    }
    return ParseComparison(out);
  }

  bool ParseLiteral(SoqlLiteral* lit) {
    switch (tok_.kind) {
      case Token::Kind::kString:
        lit->kind = SoqlLiteral::Kind::kString;
        lit->text = tok_.text;
        return Advance();
      case Token::Kind::kNumber: {
        char* end = nullptr;
        const double v = std::strtod(tok_.text.c_str(), &end);
        if (end == nullptr || *end != '\0' || !std::isfinite(v)) return Fail("invalid number");
        lit->kind = SoqlLiteral::Kind::kNumber;
        lit->number = v;
        lit->text = tok_.text;
        return Advance();
      }
      case Token::Kind::kDateTime: {
        bool is_date = false;
        ParseSoqlDateTime(tok_.text, &is_date, &lit->epoch_ms);
        lit->kind = is_date ? SoqlLiteral::Kind::kDate : SoqlLiteral::Kind::kDateTime;
        lit->text = tok_.text;
        return Advance();
      }
      case Token::Kind::kWord: {
        const std::string u = Upper(tok_.text);
        if (u == "NULL")
          lit->kind = SoqlLiteral::Kind::kNull;
        else if (u == "TRUE" || u == "FALSE") {
          lit->kind = SoqlLiteral::Kind::kBool;
          lit->b = u == "TRUE";
        } else {
          return Fail("expected a value");
        }
        return Advance();
      }
      default:
        return Fail("expected a value");
    }
  }

  bool ParseComparison(std::unique_ptr<SoqlExpr>* out) {
    if (tok_.kind != Token::Kind::kWord || !ValidFieldName(tok_.text))
      return Fail("expected a field name");
    auto node = std::make_unique<SoqlExpr>();
    node->field = tok_.text;
    if (!Advance()) return false;
    if (IsKeyword("NOT")) {
      if (!Advance()) return false;
      if (!IsKeyword("IN")) return Fail("expected IN after NOT");
      node->op = "NOT_IN";
    } else if (IsKeyword("IN")) {
      node->op = "IN";
    } else if (IsKeyword("LIKE")) {
      node->op = "LIKE";
    } else if (tok_.kind == Token::Kind::kSymbol && tok_.text != "(" && tok_.text != ")" &&
               tok_.text != ",") {
      node->op = tok_.text == "<>" ? "!=" : tok_.text;
    } else {
      return Fail("expected an operator");
    }
    if (!Advance()) return false;
    if (node->op == "IN" || node->op == "NOT_IN") {
      if (!IsSymbol("(")) return Fail("expected '(' after IN");
      if (!Advance()) return false;
      for (;;) {
        SoqlLiteral lit;
        if (!ParseLiteral(&lit)) return false;
        node->values.push_back(lit);
        if (IsSymbol(")")) break;
        if (!IsSymbol(",")) return Fail("expected ',' or ')' in the IN list");
        if (!Advance()) return false;
      }
      if (!Advance()) return false;
    } else {
      SoqlLiteral lit;
      if (!ParseLiteral(&lit)) return false;
      if (node->op == "LIKE" && lit.kind != SoqlLiteral::Kind::kString)
        return Fail("LIKE needs a string");
      node->values.push_back(lit);
    }
    *out = std::move(node);
    return true;
  }

  const std::string& text_;
  Lexer lexer_;
  Token tok_;
  std::string error_;
};

std::string Lower(const std::string& s) {
  std::string out = s;
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// SOQL LIKE: % any run, _ one character, case-insensitive; \% and \_ are literal.
bool LikeMatch(const std::string& value, const std::string& pattern) {
  const std::string v = Lower(value), p = Lower(pattern);
  // Iterative matcher with backtracking on the last %.
  size_t vi = 0, pi = 0, star_p = std::string::npos, star_v = 0;
  while (vi < v.size()) {
    if (pi < p.size() && p[pi] == '\\' && pi + 1 < p.size() && v[vi] == p[pi + 1]) {
      pi += 2;
      ++vi;
    } else if (pi < p.size() && p[pi] == '_') {
      ++pi;
      ++vi;
    } else if (pi < p.size() && p[pi] == '%') {
      star_p = pi++;
      star_v = vi;
    } else if (pi < p.size() && p[pi] != '\\' && p[pi] == v[vi]) {
      ++pi;
      ++vi;
    } else if (star_p != std::string::npos) {
      pi = star_p + 1;
      vi = ++star_v;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '%') ++pi;
  return pi == p.size();
}

bool Equal(const SoqlValue& a, const SoqlValue& b) { return CompareSoqlValues(a, b) == 0; }

}  // namespace

bool ParseSoqlDateTime(const std::string& t, bool* is_date, int64_t* epoch_ms) {
  auto digits = [&](size_t at, size_t n, int* out) {
    if (at + n > t.size()) return false;
    int v = 0;
    for (size_t i = at; i < at + n; ++i) {
      if (!std::isdigit(static_cast<unsigned char>(t[i]))) return false;
      v = v * 10 + (t[i] - '0');
    }
    *out = v;
    return true;
  };
  int y, mo, d;
  if (!digits(0, 4, &y) || t.size() < 10 || t[4] != '-' || !digits(5, 2, &mo) || t[7] != '-' ||
      !digits(8, 2, &d) || mo < 1 || mo > 12 || d < 1 || d > 31)
    return false;
  const int64_t days = DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  if (t.size() == 10) {
    *is_date = true;
    *epoch_ms = days * 86'400'000;
    return true;
  }
  int h, mi, s;
  if (t[10] != 'T' || !digits(11, 2, &h) || t.size() < 19 || t[13] != ':' || !digits(14, 2, &mi) ||
      t[16] != ':' || !digits(17, 2, &s) || h > 23 || mi > 59 || s > 60)
    return false;
  size_t i = 19;
  int ms = 0;
  if (i < t.size() && t[i] == '.') {
    ++i;
    size_t n = 0;
    int frac = 0;
    while (i < t.size() && std::isdigit(static_cast<unsigned char>(t[i]))) {
      if (n < 3) frac = frac * 10 + (t[i] - '0');
      ++n;
      ++i;
    }
    if (n == 0) return false;
    for (size_t k = n; k < 3; ++k) frac *= 10;
    ms = frac;
  }
  int64_t offset_min = 0;
  if (i < t.size() && t[i] == 'Z') {
    ++i;
  } else if (i < t.size() && (t[i] == '+' || t[i] == '-')) {
    const int sign = t[i] == '-' ? -1 : 1;
    int oh, om;
    if (!digits(i + 1, 2, &oh)) return false;
    size_t j = i + 3;
    if (j < t.size() && t[j] == ':') ++j;
    if (!digits(j, 2, &om)) return false;
    offset_min = sign * (oh * 60 + om);
    i = j + 2;
  } else {
    return false;  // SOQL datetimes need a zone
  }
  if (i != t.size()) return false;
  *is_date = false;
  *epoch_ms = ((days * 24 + h) * 60 + mi - offset_min) * 60'000 + s * 1000 + ms;
  return true;
}

SoqlParseResult ParseSoql(const std::string& text) { return Parser(text).Run(); }

int CompareSoqlValues(const SoqlValue& a, const SoqlValue& b) {
  using K = SoqlLiteral::Kind;
  if (a.kind == K::kNull || b.kind == K::kNull)
    return (a.kind == K::kNull ? 0 : 1) - (b.kind == K::kNull ? 0 : 1);
  auto time_of = [](const SoqlValue& v, int64_t* out) {
    if (v.kind == K::kDate || v.kind == K::kDateTime) {
      *out = v.epoch_ms;
      return true;
    }
    bool is_date;
    return v.kind == K::kString && ParseSoqlDateTime(v.text, &is_date, out);
  };
  int64_t ta, tb;
  if ((a.kind == K::kDate || a.kind == K::kDateTime || b.kind == K::kDate ||
       b.kind == K::kDateTime) &&
      time_of(a, &ta) && time_of(b, &tb))
    return ta < tb ? -1 : ta > tb ? 1 : 0;
  if (a.kind == K::kNumber && b.kind == K::kNumber)
    return a.number < b.number ? -1 : a.number > b.number ? 1 : 0;
  if (a.kind == K::kBool && b.kind == K::kBool) return int(a.b) - int(b.b);
  // Strings (and mixed kinds) compare case-insensitively, as Salesforce's default collation.
  const std::string la = Lower(a.kind == K::kBool ? (a.b ? "true" : "false") : a.text);
  const std::string lb = Lower(b.kind == K::kBool ? (b.b ? "true" : "false") : b.text);
  return la < lb ? -1 : la > lb ? 1 : 0;
}

bool EvaluateSoql(const SoqlExpr& e, const FieldReader& read) {
  using K = SoqlLiteral::Kind;
  switch (e.kind) {
    case SoqlExpr::Kind::kAnd:
      return EvaluateSoql(*e.children[0], read) && EvaluateSoql(*e.children[1], read);
    case SoqlExpr::Kind::kOr:
      return EvaluateSoql(*e.children[0], read) || EvaluateSoql(*e.children[1], read);
    case SoqlExpr::Kind::kNot:
      return !EvaluateSoql(*e.children[0], read);
    case SoqlExpr::Kind::kCompare:
      break;
  }
  const auto value = read(e.field);
  const SoqlValue v = value.value_or(SoqlValue{});
  const bool is_null = v.kind == K::kNull;
  if (e.op == "IN" || e.op == "NOT_IN") {
    bool found = false;
    for (const auto& lit : e.values) found = found || (!is_null && Equal(v, lit));
    return e.op == "IN" ? found : !found;
  }
  const SoqlLiteral& lit = e.values.front();
  if (e.op == "LIKE") return !is_null && LikeMatch(v.text, lit.text);
  if (lit.kind == K::kNull) {
    if (e.op == "=") return is_null;
    if (e.op == "!=") return !is_null;
    return false;
  }
  if (is_null) return e.op == "!=";
  const int c = CompareSoqlValues(v, lit);
  if (e.op == "=") return c == 0;
  if (e.op == "!=") return c != 0;
  if (e.op == "<") return c < 0;
  if (e.op == ">") return c > 0;
  if (e.op == "<=") return c <= 0;
  if (e.op == ">=") return c >= 0;
  return false;
}

}  // namespace tandem::sandbox::salesforce
