// SPDX-License-Identifier: Apache-2.0
// Type interning, assignability and printing.
#include "sema/types.h"

#include <algorithm>

namespace flow::sema {

namespace {
const char* kScalarNames[] = {"<error>", "none", "int", "float", "bool", "string",
                              "duration", "size", "file", "dir", "json"};
}

TypeTable::TypeTable() {
  for (int k = 0; k <= static_cast<int>(TypeKind::Json); ++k)
    Intern(TypeInfo{static_cast<TypeKind>(k), {}, {}, {}}, kScalarNames[k]);
}

TypeId TypeTable::Intern(TypeInfo info, const std::string& key) {
  auto it = interned_.find(key);
  if (it != interned_.end()) return it->second;
  TypeId id{static_cast<int32_t>(types_.size())};
  types_.push_back(std::move(info));
  interned_[key] = id;
  return id;
}

TypeId TypeTable::List(TypeId elem) {
  return Intern(TypeInfo{TypeKind::List, elem, {}, {}}, "L" + std::to_string(elem.value));
}

TypeId TypeTable::Optional(TypeId elem) {
  TypeKind k = Kind(elem);
  if (k == TypeKind::Optional || k == TypeKind::None || k == TypeKind::Error) return elem;
  return Intern(TypeInfo{TypeKind::Optional, elem, {}, {}}, "O" + std::to_string(elem.value));
}

TypeId TypeTable::DeclareRecord(const std::string& name) {
  // Nominal: a unique key per declaration, even for a duplicate name.
  return Intern(TypeInfo{TypeKind::Record, {}, name, {}}, "R" + std::to_string(types_.size()) + ":" + name);
}

void TypeTable::SetFields(TypeId record, std::vector<RecordField> fields) {
  types_[record.value].fields = std::move(fields);
}

TypeId TypeTable::Outputs(std::vector<RecordField> fields) {
  // Same names and types make the same type, in whatever order declared.
  std::sort(fields.begin(), fields.end(),
            [](const RecordField& a, const RecordField& b) { return a.name < b.name; });
  std::string key = "S";
  for (const auto& f : fields) key += f.name + ":" + std::to_string(f.type.value) + ",";
  return Intern(TypeInfo{TypeKind::Record, {}, {}, std::move(fields)}, key);
}

const RecordField* TypeTable::Field(TypeId record, const std::string& name) const {
  for (const auto& f : Get(record).fields)
    if (f.name == name) return &f;
  return nullptr;
}

bool TypeTable::Assignable(TypeId from, TypeId to) const {
  if (from == to) return true;
  TypeKind fk = Kind(from), tk = Kind(to);
  if (fk == TypeKind::Error || tk == TypeKind::Error) return true;
  if (fk == TypeKind::Json || tk == TypeKind::Json) return true;
  if (fk == TypeKind::Int && tk == TypeKind::Float) return true;
  if (tk == TypeKind::Optional) {
    if (fk == TypeKind::None) return true;
    if (fk == TypeKind::Optional) return Assignable(Get(from).elem, Get(to).elem);
    return Assignable(from, Get(to).elem);
  }
  if (fk == TypeKind::List && tk == TypeKind::List) return Assignable(Get(from).elem, Get(to).elem);
  return false;
}

TypeId TypeTable::Join(TypeId a, TypeId b) {
  if (Assignable(a, b) && !IsError(a)) return IsError(b) ? a : b;
  if (Assignable(b, a)) return a;
  if (Kind(a) == TypeKind::None) return Optional(b);
  if (Kind(b) == TypeKind::None) return Optional(a);
  if (Kind(a) == TypeKind::Optional || Kind(b) == TypeKind::Optional) {
    TypeId j = Join(StripOptional(a), StripOptional(b));
    return IsError(j) ? j : Optional(j);
  }
  if (Kind(a) == TypeKind::List && Kind(b) == TypeKind::List) {
    TypeId j = Join(Get(a).elem, Get(b).elem);
    return IsError(j) ? j : List(j);
  }
  return Error();
}

std::string TypeTable::Name(TypeId t) const {
  const TypeInfo& info = Get(t);
  switch (info.kind) {
    case TypeKind::List: return "list<" + Name(info.elem) + ">";
    case TypeKind::Optional: return Name(info.elem) + "?";
    case TypeKind::Record: {
      if (!info.name.empty()) return info.name;
      std::string s = "(";
      for (size_t i = 0; i < info.fields.size(); ++i)
        s += (i ? ", " : "") + info.fields[i].name + ": " + Name(info.fields[i].type);
      return s + ")";
    }
    default: return kScalarNames[static_cast<int>(info.kind)];
  }
}

bool TypeTable::BuiltinByName(const std::string& name, TypeId* out) const {
  for (int k = static_cast<int>(TypeKind::Int); k <= static_cast<int>(TypeKind::Json); ++k)
    if (name == kScalarNames[k]) {
      *out = TypeId{k};
      return true;
    }
  return false;
}

}  // namespace flow::sema
