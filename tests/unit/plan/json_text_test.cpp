// SPDX-License-Identifier: Apache-2.0
// plan::JsonText / AppendJson / StringAppender: the text json::OStream
// writes through llvm::raw_string_ostream, through a buffer.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <string>

#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"
#include "plan/json_text.h"

namespace flow::plan {
namespace {

namespace json = llvm::json;

std::string Unbuffered(const json::Value& v) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << v;
  return os.str();
}

json::Value Random(std::mt19937& rng, int depth) {
  switch (depth > 3 ? rng() % 5 : rng() % 7) {
    case 0: return nullptr;
    case 1: return rng() % 2 == 0;
    case 2: return static_cast<int64_t>(rng()) - (int64_t{1} << 31);
    case 3: return static_cast<double>(rng()) / 7.0;
    case 4: {
      std::string s;
      size_t n = rng() % 40;
      for (size_t i = 0; i < n; ++i) s += static_cast<char>(rng() % 0x80);  // control characters, quotes, backslashes
      return s;
    }
    case 5: {
      json::Array a;
      for (size_t i = rng() % 6; i > 0; --i) a.push_back(Random(rng, depth + 1));
      return a;
    }
    default: {
      json::Object o;
      for (size_t i = rng() % 6; i > 0; --i) o["k" + std::to_string(rng() % 100)] = Random(rng, depth + 1);
      return o;
    }
  }
}

TEST(JsonText, WritesWhatTheUnbufferedStreamWrites) {
  const json::Value cases[] = {
      nullptr,
      true,
      std::numeric_limits<int64_t>::min(),
      std::numeric_limits<int64_t>::max(),
      std::numeric_limits<uint64_t>::max(),
      0.1,
      -2.5e-300,
      "",
      "tab\there \"quoted\" back\\slash \x01\x1f\n\r é ✓",
      json::Array{1, "two", json::Array{}, json::Object{}},
      json::Object{{"z", 1}, {"a", json::Object{{"y", nullptr}, {"b", json::Array{false}}}}, {"m", "x"}},
  };
  for (const auto& v : cases) EXPECT_EQ(JsonText(v), Unbuffered(v));
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    json::Value v = Random(rng, 0);
    ASSERT_EQ(JsonText(v), Unbuffered(v)) << "case " << i;
  }
}

// Longer than the stream's buffer (512 bytes), in one string and in many
// small ones: nothing is lost or reordered where the buffer is flushed.
TEST(JsonText, TextsLongerThanTheBuffer) {
  std::string big(100000, 'x');
  for (size_t i = 0; i < big.size(); i += 97) big[i] = static_cast<char>(i % 32);  // escaped: 6 bytes each
  json::Value one = big;
  EXPECT_EQ(JsonText(one), Unbuffered(one));
  json::Array many;
  for (int i = 0; i < 5000; ++i) many.push_back("s" + std::to_string(i));
  json::Value list = std::move(many);
  EXPECT_EQ(JsonText(list), Unbuffered(list));
}

TEST(JsonText, AppendKeepsWhatWasThere) {
  std::string s = "prefix:";
  AppendJson(s, json::Array{1, 2});
  AppendJson(s, "a\"b");
  EXPECT_EQ(s, "prefix:[1,2]\"a\\\"b\"");
}

TEST(JsonText, StreamFlushesWhenDestroyedAndOnFlush) {
  std::string s;
  {
    StringAppender os(s);
    os << "abc";
    EXPECT_EQ(s, "") << "buffered until flushed";
    os.flush();
    EXPECT_EQ(s, "abc");
    os << 42;
    EXPECT_EQ(os.tell(), 5u);
  }
  EXPECT_EQ(s, "abc42");
}

}  // namespace
}  // namespace flow::plan
