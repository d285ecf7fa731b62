// SPDX-License-Identifier: Apache-2.0
// plan::ParseJson against llvm::json::parse: the same values and the same
// errors on ordinary documents (hand-picked, generated, mutated), and no
// recursion or quadratic copying on deep ones.
#include <functional>
#include <random>
#include <string>

#include "gtest/gtest.h"
#include "llvm/Support/raw_ostream.h"
#include "plan/json_parse.h"

namespace flow::plan {
namespace {

namespace json = llvm::json;

std::string Show(const json::Value& v) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << v;
  return os.str();
}

// "" when both readers give the same value, or both the same error.
std::string Compare(const std::string& text) {
  llvm::Expected<json::Value> ref = json::parse(text);
  llvm::Expected<json::Value> ours = ParseJson(text, kMaxJsonDepth);
  if (!ref || !ours) {
    std::string a = ref ? "accepted " + Show(*ref) : "error " + llvm::toString(ref.takeError());
    std::string b = ours ? "accepted " + Show(*ours) : "error " + llvm::toString(ours.takeError());
    // The one difference meant: an infinity (KeepsLargeIntegersAndRefusesInfinities).
    if (a.find("inf") != std::string::npos && b.find("number out of range") != std::string::npos) return "";
    return a == b ? "" : "llvm: " + a + "\nours: " + b;
  }
  if (*ref != *ours) return "values differ: llvm " + Show(*ref) + ", ours " + Show(*ours);
  // Equal values can still differ in kind (an int against the same double).
  std::string a = Show(*ref), b = Show(*ours);
  return a == b ? "" : "texts differ: llvm " + a + ", ours " + b;
}

TEST(ParseJson, AgreesOnHandPickedDocuments) {
  const char* cases[] = {
      "null", "true", "false", "0", "-0", "7", "-12", "007", "123456789012345678", "1234567890123456789",
      "9223372036854775807", "-9223372036854775808", "1.5", "-1.5e3", "1E+2", "1.", ".5", "-", "+1", "1-2", "0x10", "\"\"", "\"abc\"", "\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"",
      "\"\\u00e9\\u20ac\\ud83d\\ude00\"", "\"\\ud83d\"", "\"\\x\"", "\"tab\there\"", "\"\xc3\xa9\"",
      "\"\xff\"", "\"unterminated", "[]", "[ ]", "{}", "{ }", "[1,2,3]", "[1,]", "[,1]", "[1 2]", "{\"a\":1}",
      "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "{\"a\":1,\"a\":2}", "{\"a\":{\"b\":[{\"c\":null}]}}",
      " \n\t\r [1] \n", "[1] x", "", "   ", "nul", "nulll", "truex", "[true,false,null]", "[[[[]]]]",
      "{\"k\":[1,{\"x\":\"y\"},[2,[3]]],\"m\":-0.25}", "[\"\\u0000\"]", "[1,\n2,\n3,\nx]", "{\"a\":}",
      "[\"a\",]", "{\"\":\"\"}", "[1e5,1E-5,0.0,-0]",
  };
  for (const char* c : cases) EXPECT_EQ(Compare(c), "") << "input: " << c;
}

// Where llvm::json gets numbers wrong: integers beyond int64 become
// INT64_MAX there, and 1e999 an infinity that it writes back as `inf`.
TEST(ParseJson, KeepsLargeIntegersAndRefusesInfinities) {
  auto value = [](const char* text) {
    llvm::Expected<json::Value> v = ParseJson(text, kMaxJsonDepth);
    return v ? Show(*v) : "error " + llvm::toString(v.takeError());
  };
  EXPECT_EQ(value("9223372036854775807"), "9223372036854775807");
  EXPECT_EQ(value("9223372036854775808"), "9223372036854775808");    // a uint64
  EXPECT_EQ(value("18446744073709551615"), "18446744073709551615");
  EXPECT_EQ(value("18446744073709551616"), "1.8446744073709552e+19");  // a double
  EXPECT_EQ(value("-9223372036854775809"), "-9.2233720368547758e+18");
  EXPECT_EQ(value("[99999999999999999999999]"), "[9.9999999999999992e+22]");
  EXPECT_EQ(value("[1e400]"), "error [1:2, byte=2]: number out of range: 1e400");
  EXPECT_EQ(value("{\"a\": -1e999}"), "error [1:7, byte=7]: number out of range: -1e999");
  EXPECT_EQ(value("1e308"), "1e+308");
}

// Random documents of moderate depth, and single-character mutations of
// them: accepted with the same value, or refused with the same message.
TEST(ParseJson, AgreesOnGeneratedAndMutatedDocuments) {
  std::mt19937_64 rng(11);
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  std::function<std::string(int)> gen = [&](int depth) -> std::string {
    size_t kind = depth > 6 ? pick(5) : pick(7);
    switch (kind) {
      case 0: return "null";
      case 1: return pick(2) ? "true" : "false";
      case 2: {
        const char* nums[] = {"0", "42", "-7", "3.25", "1e3", "12345678901234567", "-0.5E-2"};
        return nums[pick(std::size(nums))];
      }
      case 3:
      case 4: {
        const char* strs[] = {"\"\"", "\"x\"", "\"a b\"", "\"q\\\"\"", "\"\\n\"", "\"\\u0041\"", "\"\xc3\xa9\""};
        return strs[pick(std::size(strs))];
      }
      case 5: {
        std::string s = "[";
        size_t n = pick(4);
        for (size_t i = 0; i < n; ++i) s += (i ? ", " : "") + gen(depth + 1);
        return s + "]";
      }
      default: {
        std::string s = "{";
        size_t n = pick(4);
        for (size_t i = 0; i < n; ++i) s += std::string(i ? ",\n" : "") + "\"k" + std::to_string(pick(3)) + "\": " + gen(depth + 1);
        return s + "}";
      }
    }
  };
  const char edits[] = {'[', ']', '{', '}', ',', ':', '"', '\\', '1', '-', '.', 'e', 'n', ' ', '\n', 'x'};
  int compared = 0, refused = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string doc = gen(0);
    ASSERT_EQ(Compare(doc), "") << doc;
    ++compared;
    for (int m = 0; m < 3; ++m) {
      std::string bad = doc;
      size_t at = pick(bad.size() + 1);
      switch (pick(3)) {
        case 0: if (at < bad.size()) bad.erase(at, 1); break;
        case 1: bad.insert(at, 1, edits[pick(std::size(edits))]); break;
        default: if (at < bad.size()) bad[at] = edits[pick(std::size(edits))]; break;
      }
      ASSERT_EQ(Compare(bad), "") << bad;
      if (llvm::Expected<json::Value> r = json::parse(bad); !r) {
        llvm::consumeError(r.takeError());
        ++refused;
      }
      ++compared;
    }
  }
  EXPECT_GT(refused, compared / 10);  // the mutations reach the error paths
}

// A left-nested expression as flowc writes it: {"op":"add","args":[LHS, 1]}.
std::string DeepExpression(int depth) {
  std::string s = "{\"op\":\"input\",\"name\":\"v\"}";
  std::string out;
  for (int i = 0; i < depth; ++i) out += "{\"op\":\"add\",\"args\":[";
  out += s;
  for (int i = 0; i < depth; ++i) out += ",{\"op\":\"int\",\"value\":1}]}";
  return out;
}

TEST(ParseJson, ReadsDeepDocumentsWithoutRecursing) {
  // 10,000 expression levels, the most the front end lets through (20,001
  // JSON levels): llvm::json::parse copies each array's first element when
  // the array grows, so a plan of 9,000 levels took minutes to load there.
  llvm::Expected<json::Value> v = ParseJson(DeepExpression(10000), kMaxJsonDepth);
  ASSERT_TRUE(bool(v)) << llvm::toString(v.takeError());
  int depth = 0;
  for (const json::Value* x = &*v; x && x->getAsObject(); ++depth) {
    const json::Array* args = x->getAsObject()->getArray("args");
    x = args ? &(*args)[0] : nullptr;
  }
  EXPECT_EQ(depth, 10001);
}

TEST(ParseJson, RefusesDocumentsDeeperThanTheLimit) {
  // 300,000 brackets overflowed the stack of llvm::json::parse (a stage's
  // output, read by `flow run`).
  std::string deep = std::string(300000, '[') + std::string(300000, ']');
  for (size_t limit : {kMaxJsonDepth, kMaxValueJsonDepth}) {
    llvm::Expected<json::Value> v = ParseJson(deep, limit);
    ASSERT_FALSE(bool(v));
    EXPECT_EQ(llvm::toString(v.takeError()),
              "[1:" + std::to_string(limit) + ", byte=" + std::to_string(limit) + "]: nested more than " +
                  std::to_string(limit) + " levels deep");
  }
  llvm::Expected<json::Value> small = ParseJson("[[[1]]]", 2);
  ASSERT_FALSE(bool(small));
  EXPECT_NE(llvm::toString(small.takeError()).find("nested more than 2 levels deep"), std::string::npos);
  EXPECT_TRUE(bool(ParseJson("[[1]]", 2)));
}

}  // namespace
}  // namespace flow::plan
