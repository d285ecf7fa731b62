// SPDX-License-Identifier: Apache-2.0
// The type system of SPEC 1.2: interned types with value identity, so two
// TypeIds are the same type exactly when they are equal.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "llvm/ADT/StringMap.h"

namespace flow::sema {

struct TypeId {
  int32_t value = 0;
  friend bool operator==(TypeId a, TypeId b) { return a.value == b.value; }
  friend bool operator!=(TypeId a, TypeId b) { return a.value != b.value; }
};

enum class TypeKind {
  Error,  // poison: the type of an expression that already has an error
  None,   // the type of `none`
  Int, Float, Bool, String, Duration, Size, File, Dir, Json,
  List, Optional, Record,
};

struct RecordField {
  std::string name;
  TypeId type;
};

struct TypeInfo {
  TypeKind kind;
  TypeId elem;                     // List, Optional
  std::string name;                // declared records; empty for call outputs
  std::vector<RecordField> fields; // Record
};

/// Owns every type of a program. Declared records are nominal (one TypeId per
/// `record` declaration); the output records of stages and pipelines are
/// structural, so two stages with the same output names and types produce
/// the same type (what SPEC 1.4 asks of a reassigned `var`).
class TypeTable {
 public:
  TypeTable();

  TypeId Error() const { return {0}; }
  TypeId None() const { return {1}; }
  TypeId Int() const { return {2}; }
  TypeId Float() const { return {3}; }
  TypeId Bool() const { return {4}; }
  TypeId String() const { return {5}; }
  TypeId Duration() const { return {6}; }
  TypeId Size() const { return {7}; }
  TypeId File() const { return {8}; }
  TypeId Dir() const { return {9}; }
  TypeId Json() const { return {10}; }

  TypeId List(TypeId elem);
  /// T? ; Optional(T?) is T?, Optional(none) is none, Optional(error) is error.
  TypeId Optional(TypeId elem);
  /// A fresh nominal record; fields are set later (records may refer to each
  /// other in any order).
  TypeId DeclareRecord(const std::string& name);
  void SetFields(TypeId record, std::vector<RecordField> fields);
  /// The structural record of a callee's outputs.
  TypeId Outputs(std::vector<RecordField> fields);

  const TypeInfo& Get(TypeId t) const { return types_[t.value]; }
  TypeKind Kind(TypeId t) const { return types_[t.value].kind; }
  bool IsError(TypeId t) const { return Kind(t) == TypeKind::Error; }
  bool IsOptional(TypeId t) const { return Kind(t) == TypeKind::Optional || Kind(t) == TypeKind::None; }
  bool IsNumeric(TypeId t) const { return Kind(t) == TypeKind::Int || Kind(t) == TypeKind::Float; }
  /// The T of T? (T itself when not optional).
  TypeId StripOptional(TypeId t) const { return Kind(t) == TypeKind::Optional ? Get(t).elem : t; }
  /// The field's type, or nullptr.
  const RecordField* Field(TypeId record, const std::string& name) const;

  /// Whether a value of type `from` may be used where `to` is expected:
  /// equal types, int to float, T to T?, none to T?, anything to and from
  /// json, error to and from anything; element-wise for lists and optionals.
  bool Assignable(TypeId from, TypeId to) const;
  /// The type both may be converted to (for list literals and if-branches),
  /// or Error() when there is none.
  TypeId Join(TypeId a, TypeId b);

  /// "list<file>", "Metrics", "(model: file, metrics: Metrics)".
  std::string Name(TypeId t) const;

  /// Looks up a builtin scalar type by its name ("int", "file", ...).
  bool BuiltinByName(const std::string& name, TypeId* out) const;

 private:
  TypeId Intern(TypeInfo info, const std::string& key);
  std::vector<TypeInfo> types_;
  llvm::StringMap<TypeId> interned_;
};

}  // namespace flow::sema
