// SPDX-License-Identifier: Apache-2.0
#include "plan/value_check.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "fmt/format.h"
#include "plan/units.h"

namespace flow::plan {

namespace json = llvm::json;

namespace {

const char* KindName(const json::Value& v) {
  switch (v.kind()) {
    case json::Value::Null: return "null";
    case json::Value::Boolean: return "bool";
    case json::Value::Number: return v.getAsInteger() ? "int" : "float";
    case json::Value::String: return "string";
    case json::Value::Array: return "list";
    case json::Value::Object: return "object";
  }
  return "value";
}

// "30m", "1.5h", "200ms" -> milliseconds; "4GB" -> bytes.
std::optional<int64_t> ParseUnits(const std::string& s, bool duration) {
  auto v = duration ? ParseWithUnit(s, kDurationUnits) : ParseWithUnit(s, kSizeUnits);
  if (!v) return std::nullopt;
  return static_cast<int64_t>(std::llround(*v));
}

bool Check(const Plan& plan, const Type& type, json::Value& value, std::string& error, std::string where) {
  auto fail = [&](std::string what) {
    error = where.empty() ? what : where + ": " + what;
    return false;
  };
  auto expected = [&]() { return fail(fmt::format("expected {}, found {}", type.Spell(), KindName(value))); };
  switch (type.kind) {
    case Type::Int:
      if (value.getAsInteger()) return true;
      return expected();
    case Type::Float:
      if (auto d = value.getAsNumber(); d && std::isfinite(*d)) {
        value = *d;
        return true;
      }
      return expected();
    case Type::Bool:
      return value.getAsBoolean() ? true : expected();
    case Type::String:
    case Type::File:
    case Type::Dir:
      return value.getAsString() ? true : expected();
    case Type::Duration:
    case Type::Size: {
      if (auto i = value.getAsInteger(); i && *i >= 0) return true;
      if (auto s = value.getAsString())
        if (auto v = ParseUnits(s->str(), type.kind == Type::Duration)) {
          value = *v;
          return true;
        }
      return expected();
    }
    case Type::Json:
      return true;
    case Type::None:
      return value.getAsNull() ? true : expected();
    case Type::Optional:
      if (value.getAsNull()) return true;
      return Check(plan, type.elem[0], value, error, where);
    case Type::List: {
      json::Array* arr = value.getAsArray();
      if (!arr) return expected();
      for (size_t i = 0; i < arr->size(); ++i)
        if (!Check(plan, type.elem[0], (*arr)[i], error, fmt::format("{}[{}]", where.empty() ? "element" : where, i)))
          return false;
      return true;
    }
    case Type::Record: {
      json::Object* obj = value.getAsObject();
      if (!obj) return expected();
      const Record* rec = nullptr;
      for (const auto& r : plan.records)
        if (r.name == type.record) rec = &r;
      if (!rec) return true;  // unknown record: the verifier prevents this
      for (const auto& f : rec->fields) {
        json::Value* v = obj->get(f.name);
        std::string at = where.empty() ? "field '" + f.name + "'" : where + "." + f.name;
        if (!v) {
          if (f.type.kind == Type::Optional) {
            (*obj)[f.name] = nullptr;
            continue;
          }
          return fail(fmt::format("{}: missing (expected {})", at, f.type.Spell()));
        }
        if (!Check(plan, f.type, *v, error, at)) return false;
      }
      for (const auto& kv : *obj)
        if (std::none_of(rec->fields.begin(), rec->fields.end(),
                         [&](const Field& f) { return f.name == kv.first.str(); }))
          return fail(fmt::format("unknown field '{}' (a {} has {} field{})", kv.first.str(), rec->name,
                                  rec->fields.size(), rec->fields.size() == 1 ? "" : "s"));
      return true;
    }
  }
  return true;
}

}  // namespace

bool CheckValue(const Plan& plan, const Type& type, json::Value& value, std::string& error) {
  return Check(plan, type, value, error, "");
}

}  // namespace flow::plan
