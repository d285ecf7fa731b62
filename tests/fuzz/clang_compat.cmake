# SPDX-License-Identifier: Apache-2.0
# Makes the Debian headers flow builds against usable from clang 14 in C++20
# mode, for the fuzz build only. GCC accepts all of them as they are; clang
# rejects two, before it ever reaches flow's own code:
#
#  1. llvm-14's llvm/Support/JSON.h (included by compiler/diag/diagnostic.h):
#     json::Array's in-class member functions use std::vector<json::Value>
#     while Value is still incomplete; libstdc++ 12 makes those vector members
#     constexpr in C++20 and clang instantiates them on the spot: "arithmetic
#     on a pointer to an incomplete type 'llvm::json::Value'"
#     (llvm/llvm-project#55780). LLVM 15 moved the definitions below Value;
#     the overlay here does the same.
#  2. libantlr4-runtime 4.9's Vocabulary.h: Vocabulary() = default is deleted
#     (const std::vector members, not const-default-constructible), and
#     InterpreterData() {} calls it. The overlay value-initializes the members.
#
# Both overlays only move inline code or spell out what the defaulted
# constructor did, so the layout and ABI of the prebuilt libraries stay the
# same. They are copies placed in front of the originals on the include path
# of flow_llvm and flow_antlr.

set(FLOW_COMPAT_DIR ${CMAKE_CURRENT_BINARY_DIR}/clang-compat)

# Fails the configure step when a header is not the version patched here.
function(flow_compat_expect_hash file hash)
  file(SHA256 ${file} actual)
  if(NOT actual STREQUAL hash)
    message(FATAL_ERROR "tests/fuzz/clang_compat.cmake: ${file} is not the version this workaround was written "
                        "for (sha256 ${actual}); check whether clang still needs it and update the patch")
  endif()
endfunction()

# Replaces the one occurrence of `old` in variable `var` by `new`.
function(flow_compat_replace var old new)
  string(FIND "${${var}}" "${old}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "tests/fuzz/clang_compat.cmake: text to patch not found: ${old}")
  endif()
  string(REPLACE "${old}" "${new}" out "${${var}}")
  set(${var} "${out}" PARENT_SCOPE)
endfunction()

# ---- 1. llvm/Support/JSON.h
set(json_h ${LLVM_INCLUDE_DIRS}/llvm/Support/JSON.h)
flow_compat_expect_hash(${json_h} c9a19520bdba71136e84f8198bb187393a0dbfe007e952502e34a970ec4cf2b9)
file(READ ${json_h} text)
set(old_methods [=[
  Value &operator[](size_t I) { return V[I]; }
  const Value &operator[](size_t I) const { return V[I]; }
  Value &front() { return V.front(); }
  const Value &front() const { return V.front(); }
  Value &back() { return V.back(); }
  const Value &back() const { return V.back(); }
  Value *data() { return V.data(); }
  const Value *data() const { return V.data(); }

  iterator begin() { return V.begin(); }
  const_iterator begin() const { return V.begin(); }
  iterator end() { return V.end(); }
  const_iterator end() const { return V.end(); }

  bool empty() const { return V.empty(); }
  size_t size() const { return V.size(); }
  void reserve(size_t S) { V.reserve(S); }

  void clear() { V.clear(); }
  void push_back(const Value &E) { V.push_back(E); }
  void push_back(Value &&E) { V.push_back(std::move(E)); }
]=])
set(new_methods [=[
  Value &operator[](size_t I);
  const Value &operator[](size_t I) const;
  Value &front();
  const Value &front() const;
  Value &back();
  const Value &back() const;
  Value *data();
  const Value *data() const;

  iterator begin();
  const_iterator begin() const;
  iterator end();
  const_iterator end() const;

  bool empty() const;
  size_t size() const;
  void reserve(size_t S);

  void clear();
  void push_back(const Value &E);
  void push_back(Value &&E);
]=])
flow_compat_replace(text "${old_methods}" "${new_methods}")
flow_compat_replace(text [=[
  void pop_back() { V.pop_back(); }
  // FIXME: insert() takes const_iterator since C++11, old libstdc++ disagrees.
  iterator insert(iterator P, const Value &E) { return V.insert(P, E); }
  iterator insert(iterator P, Value &&E) {
    return V.insert(P, std::move(E));
  }
]=] [=[
  void pop_back();
  // FIXME: insert() takes const_iterator since C++11, old libstdc++ disagrees.
  iterator insert(iterator P, const Value &E);
  iterator insert(iterator P, Value &&E);
]=])
flow_compat_replace(text
  "  friend bool operator==(const Array &L, const Array &R) { return L.V == R.V; }\n"
  "  friend bool operator==(const Array &L, const Array &R);\n")
set(value_ne "inline bool operator!=(const Value &L, const Value &R) { return !(L == R); }\n")
set(array_methods [=[
// Array methods, defined once Value is complete (flow: clang + C++20 fix).
inline Value &Array::operator[](size_t I) { return V[I]; }
inline const Value &Array::operator[](size_t I) const { return V[I]; }
inline Value &Array::front() { return V.front(); }
inline const Value &Array::front() const { return V.front(); }
inline Value &Array::back() { return V.back(); }
inline const Value &Array::back() const { return V.back(); }
inline Value *Array::data() { return V.data(); }
inline const Value *Array::data() const { return V.data(); }
inline Array::iterator Array::begin() { return V.begin(); }
inline Array::const_iterator Array::begin() const { return V.begin(); }
inline Array::iterator Array::end() { return V.end(); }
inline Array::const_iterator Array::end() const { return V.end(); }
inline bool Array::empty() const { return V.empty(); }
inline size_t Array::size() const { return V.size(); }
inline void Array::reserve(size_t S) { V.reserve(S); }
inline void Array::clear() { V.clear(); }
inline void Array::push_back(const Value &E) { V.push_back(E); }
inline void Array::push_back(Value &&E) { V.push_back(std::move(E)); }
inline void Array::pop_back() { V.pop_back(); }
inline Array::iterator Array::insert(iterator P, const Value &E) { return V.insert(P, E); }
inline Array::iterator Array::insert(iterator P, Value &&E) { return V.insert(P, std::move(E)); }
inline bool operator==(const Array &L, const Array &R) { return L.V == R.V; }
]=])
flow_compat_replace(text "${value_ne}" "${value_ne}${array_methods}")
file(WRITE ${FLOW_COMPAT_DIR}/llvm/llvm/Support/JSON.h "${text}")
target_include_directories(flow_llvm SYSTEM BEFORE INTERFACE ${FLOW_COMPAT_DIR}/llvm)

# ---- 2. antlr4-runtime/Vocabulary.h (the whole folder is copied, so that
# the runtime's own "Vocabulary.h" includes resolve to the patched copy).
set(vocabulary_h ${ANTLR4_INCLUDE_DIR}/Vocabulary.h)
flow_compat_expect_hash(${vocabulary_h} 8c02adb79943439e28967554dd8f712d8ef20407cd1da2a4f0f24d18706dbf29)
file(COPY ${ANTLR4_INCLUDE_DIR}/ DESTINATION ${FLOW_COMPAT_DIR}/antlr4-runtime)
file(READ ${vocabulary_h} text)
flow_compat_replace(text "    Vocabulary() = default;\n"
                    "    Vocabulary() : _literalNames(), _symbolicNames(), _displayNames() {}  // flow: clang fix\n")
file(WRITE ${FLOW_COMPAT_DIR}/antlr4-runtime/Vocabulary.h "${text}")
target_include_directories(flow_antlr SYSTEM BEFORE INTERFACE ${FLOW_COMPAT_DIR}/antlr4-runtime)
