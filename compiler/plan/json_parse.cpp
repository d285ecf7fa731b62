// SPDX-License-Identifier: Apache-2.0
// An iterative JSON reader with llvm::json::parse's results (except for the
// numbers llvm::json gets wrong: see Scalar). The structure
// (objects, arrays, nesting) is read here with an explicit stack; scalars
// are read here when plain (a string without escapes, an integer of up to
// 18 digits) and handed to llvm::json::parse otherwise, so that escapes and
// numbers mean exactly what they mean there. On an error in a document of
// ordinary depth, llvm::json::parse reads the whole text again and its
// message is returned, word for word.
#include "plan/json_parse.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>

#include "fmt/format.h"

namespace flow::plan {

namespace json = llvm::json;

namespace {

// Documents up to this deep are given to llvm::json::parse again for its
// error message (it recurses, and copies arrays as they grow).
constexpr size_t kReparseDepth = 1000;

bool IsBlank(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }
// The characters llvm::json takes into a number before converting it.
bool IsNumberChar(char c) { return (c >= '0' && c <= '9') || c == 'e' || c == 'E' || c == '+' || c == '-' || c == '.'; }

// One object or array being read. The elements of arrays wait in one deque
// for all of them (which never moves what it holds) and go into their
// json::Array when it ends, into reserved space: moved, never copied.
struct Frame {
  bool object = false;
  json::Object members;
  size_t first = 0;  // an array's first element in Reader::pending_
  std::string key;   // the member whose value is being read
};

class Reader {
 public:
  Reader(llvm::StringRef text, size_t max_depth) : t_(text), max_depth_(max_depth) {}

  llvm::Expected<json::Value> Run() {
    size_t bad = 0;
    if (!json::isUTF8(t_, &bad)) return Fail(bad, "Invalid UTF-8 sequence");
    std::deque<Frame> stack;
    while (true) {
      // Here a value is expected.
      Blanks();
      if (p_ >= t_.size()) return Fail(p_, "Unexpected EOF");
      char c = t_[p_];
      json::Value value = nullptr;
      if (c == '{' || c == '[') {
        if (stack.size() >= max_depth_)
          return Fail(p_, fmt::format("nested more than {} levels deep", max_depth_));
        ++p_;
        stack.emplace_back();
        stack.back().object = c == '{';
        stack.back().first = pending_.size();
        Blanks();
        char close = c == '{' ? '}' : ']';
        if (p_ < t_.size() && t_[p_] == close) {
          ++p_;
          value = Close(stack);
        } else {
          if (c == '{' && !Key(stack.back())) return Error();
          continue;
        }
      } else if (!Scalar(value)) {
        return Error();
      }
      // A value is complete: put it where it belongs, and close every
      // container that ends after it.
      while (true) {
        if (stack.empty()) {
          Blanks();
          if (p_ != t_.size()) return Fail(p_, "Text after end of JSON value");
          return value;
        }
        Frame& top = stack.back();
        if (top.object) top.members[std::move(top.key)] = std::move(value);
        else pending_.push_back(std::move(value));
        Blanks();
        char close = top.object ? '}' : ']';
        if (p_ < t_.size() && t_[p_] == ',') {
          ++p_;
          if (top.object) {
            Blanks();
            if (!Key(top)) return Error();
          }
          break;  // read the next value
        }
        if (p_ < t_.size() && t_[p_] == close) {
          ++p_;
          value = Close(stack);
          continue;
        }
        return Fail(p_ + 1, top.object ? "Expected , or } after object property"
                                       : "Expected , or ] after array element");
      }
    }
  }

 private:
  json::Value Close(std::deque<Frame>& stack) {
    Frame& f = stack.back();
    json::Value v = nullptr;
    if (f.object) {
      v = json::Value(std::move(f.members));
    } else {
      json::Array a;
      a.reserve(pending_.size() - f.first);
      for (size_t i = f.first; i < pending_.size(); ++i) a.emplace_back(std::move(pending_[i]));
      pending_.erase(pending_.begin() + static_cast<std::ptrdiff_t>(f.first), pending_.end());
      v = json::Value(std::move(a));
    }
    stack.pop_back();
    return v;
  }

  void Blanks() {
    while (p_ < t_.size() && IsBlank(t_[p_])) ++p_;
  }

  // `"key" :` at p_ (after blanks), into f.key.
  bool Key(Frame& f) {
    if (p_ >= t_.size() || t_[p_] != '"') return Note(p_ + 1, "Expected object key");
    json::Value k = nullptr;
    if (!String(k)) return false;
    f.key = k.getAsString()->str();
    Blanks();
    if (p_ >= t_.size() || t_[p_] != ':') return Note(p_ + 1, "Expected : after object key");
    ++p_;
    return true;
  }

  bool Scalar(json::Value& out) {
    char c = t_[p_];
    if (c == '"') return String(out);
    for (auto [word, value] : {std::pair{"null", json::Value(nullptr)}, std::pair{"true", json::Value(true)},
                               std::pair{"false", json::Value(false)}}) {
      if (c != word[0]) continue;
      if (!t_.substr(p_).startswith(word)) return Note(p_ + 1, "Invalid JSON value");
      p_ += std::strlen(word);
      out = std::move(value);
      return true;
    }
    if (!IsNumberChar(c)) return Note(p_ + 1, "Invalid JSON value");
    size_t end = p_;
    bool plain = true;  // [-]digits, short enough for int64
    while (end < t_.size() && IsNumberChar(t_[end])) {
      char d = t_[end];
      if (!((d >= '0' && d <= '9') || (d == '-' && end == p_))) plain = false;
      ++end;
    }
    size_t number_at = p_;
    llvm::StringRef number = t_.slice(p_, end);
    size_t digits = number.size() - (number[0] == '-' ? 1 : 0);
    if (plain && digits >= 1 && digits <= 18) {
      int64_t v = 0;
      for (char d : number.drop_front(number[0] == '-' ? 1 : 0)) v = v * 10 + (d - '0');
      out = number[0] == '-' ? -v : v;
      p_ = end;
      return true;
    }
    if (plain && digits >= 1) {
      // llvm::json gives INT64_MAX for every larger integer (strtoll clamps);
      // here it stays what it is: a uint64, or else a double.
      std::string text = number.str();
      errno = 0;
      long long v = std::strtoll(text.c_str(), nullptr, 10);
      if (errno != ERANGE) {
        out = static_cast<int64_t>(v);
      } else if (errno = 0, number[0] != '-') {
        unsigned long long u = std::strtoull(text.c_str(), nullptr, 10);
        out = errno != ERANGE ? json::Value(static_cast<uint64_t>(u)) : json::Value(std::strtod(text.c_str(), nullptr));
      } else {
        out = std::strtod(text.c_str(), nullptr);
      }
    } else if (!Delegate(p_, end, out)) {
      return false;
    }
    // JSON has no infinities: llvm::json reads 1e999 as one, and writes it
    // back as `inf`, which no JSON reader takes.
    if (auto d = out.getAsNumber(); d && !std::isfinite(*d))
      return Note(number_at + 1, "number out of range: " + number.str());
    p_ = end;
    return true;
  }

  bool String(json::Value& out) {
    size_t end = p_ + 1;
    bool plain = true;  // no escape, no control character
    while (end < t_.size() && t_[end] != '"') {
      unsigned char d = static_cast<unsigned char>(t_[end]);
      if (d == '\\') {
        plain = false;
        ++end;
      } else if (d < 0x20) {
        plain = false;
      }
      ++end;
    }
    if (end >= t_.size()) return Note(t_.size(), "Unterminated string");
    ++end;  // the closing quote
    if (plain) {
      out = t_.slice(p_ + 1, end - 1).str();
      p_ = end;
      return true;
    }
    return Delegate(p_, end, out);
  }

  // llvm::json::parse reads the token [begin, end) alone.
  bool Delegate(size_t begin, size_t end, json::Value& out) {
    llvm::Expected<json::Value> v = json::parse(t_.slice(begin, end));
    if (!v) {
      std::string msg = llvm::toString(v.takeError());
      size_t colon = msg.find("]: ");
      return Note(begin + 1, colon == std::string::npos ? msg : msg.substr(colon + 3));
    }
    out = std::move(*v);
    p_ = end;
    return true;
  }

  // Records an error at byte `at` (llvm::json's convention: just after the
  // character it stopped at); false, for the caller to return.
  bool Note(size_t at, const std::string& what) {
    at = std::min(at, t_.size());
    size_t line = 1, line_start = 0;
    for (size_t i = 0; i < at; ++i)
      if (t_[i] == '\n') ++line, line_start = i + 1;
    error_ = fmt::format("[{}:{}, byte={}]: {}", line, at - line_start, at, what);
    return false;
  }
  llvm::Error Fail(size_t at, const std::string& what) {
    Note(at, what);
    return Error();
  }

  // How deep the brackets of the whole text nest (outside strings).
  size_t TextDepth() const {
    size_t depth = 0, most = 0;
    bool in_string = false;
    for (size_t i = 0; i < t_.size(); ++i) {
      char c = t_[i];
      if (in_string) {
        if (c == '\\') ++i;
        else if (c == '"') in_string = false;
      } else if (c == '"') {
        in_string = true;
      } else if (c == '[' || c == '{') {
        most = std::max(most, ++depth);
      } else if ((c == ']' || c == '}') && depth > 0) {
        --depth;
      }
    }
    return most;
  }

  llvm::Error Error() {
    // The message of llvm::json::parse itself, where it can read the text
    // without going too deep.
    if (TextDepth() <= kReparseDepth) {
      llvm::Expected<json::Value> v = json::parse(t_);
      if (!v) return v.takeError();
    }
    return llvm::createStringError(llvm::inconvertibleErrorCode(), error_);
  }

  llvm::StringRef t_;
  size_t max_depth_;
  std::deque<json::Value> pending_;
  size_t p_ = 0;
  std::string error_;
};

}  // namespace

llvm::Expected<json::Value> ParseJson(llvm::StringRef text, size_t max_depth) {
  return Reader(text, max_depth).Run();
}

}  // namespace flow::plan
