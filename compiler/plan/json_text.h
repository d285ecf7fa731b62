// SPDX-License-Identifier: Apache-2.0
// JSON text into a std::string, through a buffer. llvm::raw_string_ostream
// is unbuffered, and json::OStream quotes a string one character at a time
// (`OS << C`), so every character of every string went through a virtual
// write and a string append: on `flow run`, cache keys and records spent
// more in that than in building them. The text is exactly what
// json::OStream writes (the same writer, only buffered).
#pragma once

#include <cstdint>
#include <string>

#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

namespace flow::plan {

/// A raw_ostream that appends to a std::string, through a buffer of its own;
/// the text is in the string once the stream is flushed or destroyed.
class StringAppender : public llvm::raw_ostream {
 public:
  explicit StringAppender(std::string& out) : out_(out) { SetBuffer(buf_, sizeof buf_); }
  StringAppender(const StringAppender&) = delete;
  StringAppender& operator=(const StringAppender&) = delete;
  ~StringAppender() override { flush(); }

 private:
  void write_impl(const char* p, size_t n) override { out_.append(p, n); }
  uint64_t current_pos() const override { return out_.size(); }

  std::string& out_;
  char buf_[512];
};

/// Appends `v` as compact JSON (object keys sorted), as `os << v` writes it.
inline void AppendJson(std::string& out, const llvm::json::Value& v) {
  StringAppender os(out);
  os << v;
}

/// `v` as compact JSON (object keys sorted), as `os << v` writes it.
inline std::string JsonText(const llvm::json::Value& v) {
  std::string s;
  AppendJson(s, v);
  return s;
}

}  // namespace flow::plan
