// SPDX-License-Identifier: Apache-2.0
// Differential test: wherever the fast parser (fast_parser.h) accepts a file,
// its AST must equal the ANTLR path's to the byte (every node, name, value,
// range and expression id), and the ANTLR path must report nothing; wherever
// the ANTLR path reports nothing, the fast parser must accept. Checked on
// every .flow file in the tree, on hand-picked cases where the grammar is
// ambiguous, on generated programs and on random mutations of them all.
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>

#include "../opt/program_gen.h"
#include "gtest/gtest.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "syntax/lexer.h"
#include "syntax/parse.h"
#include "syntax/reference.h"

namespace flow::syntax {
namespace {

// Every field of a module, ranges as byte offsets [begin,end), ids included.
class FullDump {
 public:
  std::string Module(const ast::Module& m) {
    os_ << "exprs " << m.num_exprs << "\n";
    for (const auto& i : m.imports) os_ << "import " << R(i.range) << i.target << (i.is_module ? " module" : "") << "\n";
    for (const auto& p : m.params) {
      os_ << "param " << R(p.range) << p.name << R(p.name_range);
      if (p.type) Type(*p.type);
      os_ << "\n";
      Opt(p.default_value);
    }
    for (const auto& r : m.records) {
      os_ << "record " << R(r.range) << r.name << R(r.name_range) << "\n";
      Fields(r.fields);
    }
    for (const auto& s : m.stages) {
      os_ << "stage " << R(s.range) << s.name << R(s.name_range) << (s.has_syntax_error ? " syntax-error" : "")
          << "\n";
      Fields(s.inputs);
      os_ << "->\n";
      Fields(s.outputs);
      for (const auto& [label, item] : {std::pair{"resources", &s.resources}, std::pair{"env", &s.env}}) {
        if (!*item) continue;
        os_ << label << " " << R((*item)->range) << "\n";
        for (const auto& e : (*item)->entries) {
          os_ << " key " << e.key << R(e.key_range) << "\n";
          Expr(*e.value, 2);
        }
      }
      for (const auto& [label, item] : {std::pair{"retry", &s.retry}, std::pair{"timeout", &s.timeout},
                                        std::pair{"estimate", &s.estimate}, std::pair{"cache", &s.cache},
                                        std::pair{"run", &s.run}}) {
        if (!*item) continue;
        os_ << label << " " << R((*item)->range) << "\n";
        Expr(*(*item)->value, 1);
      }
    }
    for (const auto& p : m.pipelines) {
      os_ << "pipeline " << R(p.range) << p.name << R(p.name_range) << "\n";
      Fields(p.inputs);
      os_ << "->\n";
      Fields(p.outputs);
      Block(p.body, 1);
    }
    return os_.str();
  }

 private:
  static std::string R(SourceRange r) {
    return "[" + std::to_string(r.begin) + "," + std::to_string(r.end) + (r.valid() ? "" : " invalid") + ") ";
  }
  void Indent(int depth) { os_ << std::string(static_cast<size_t>(depth), ' '); }
  void Type(const ast::TypeRef& t) {
    os_ << " type " << t.name << R(t.range) << (t.optional ? "?" : "") << "<";
    for (const auto& a : t.args) Type(a);
    os_ << ">";
  }
  void Fields(const std::vector<ast::Field>& fields) {
    for (const auto& f : fields) {
      os_ << "field " << f.name << R(f.name_range);
      Type(f.type);
      os_ << "\n";
      Opt(f.default_value);
    }
  }
  void Opt(const ast::ExprPtr& e) {
    if (e) Expr(*e, 1);
    else os_ << " (none)\n";
  }
  void Block(const ast::Block& b, int depth) {
    Indent(depth);
    os_ << "block " << R(b.range) << b.stmts.size() << "\n";
    for (const auto& s : b.stmts) Stmt(*s, depth + 1);
  }
  void Stmt(const ast::Stmt& s, int depth) {
    Indent(depth);
    os_ << "stmt " << static_cast<int>(s.kind) << " " << R(s.range);
    auto binding = [&](const std::string& name, SourceRange range, const ast::ExprPtr& value) {
      os_ << name << R(range) << "\n";
      Expr(*value, depth + 1);
    };
    switch (s.kind) {
      case ast::StmtKind::Let: {
        auto& x = static_cast<const ast::LetStmt&>(s);
        return binding(x.name, x.name_range, x.value);
      }
      case ast::StmtKind::Var: {
        auto& x = static_cast<const ast::VarStmt&>(s);
        return binding(x.name, x.name_range, x.value);
      }
      case ast::StmtKind::Assign: {
        auto& x = static_cast<const ast::AssignStmt&>(s);
        return binding(x.name, x.name_range, x.value);
      }
      case ast::StmtKind::Output: {
        auto& x = static_cast<const ast::OutputStmt&>(s);
        return binding(x.name, x.name_range, x.value);
      }
      case ast::StmtKind::Expr:
        os_ << "\n";
        return Expr(*static_cast<const ast::ExprStmt&>(s).value, depth + 1);
      case ast::StmtKind::If: {
        auto& x = static_cast<const ast::IfStmt&>(s);
        os_ << x.branches.size() << (x.else_body ? " else" : "") << "\n";
        for (const auto& br : x.branches) {
          Expr(*br.cond, depth + 1);
          Block(br.body, depth + 1);
        }
        if (x.else_body) Block(*x.else_body, depth + 1);
        return;
      }
      case ast::StmtKind::For: {
        auto& x = static_cast<const ast::ForStmt&>(s);
        os_ << x.var << R(x.var_range) << "\n";
        Expr(*x.iterable, depth + 1);
        return Block(x.body, depth + 1);
      }
      case ast::StmtKind::While: {
        auto& x = static_cast<const ast::WhileStmt&>(s);
        os_ << "\n";
        Expr(*x.cond, depth + 1);
        if (x.bound) Expr(*x.bound, depth + 1);
        return Block(x.body, depth + 1);
      }
    }
  }
  void Expr(const ast::Expr& e, int depth) {
    Indent(depth);
    os_ << "expr " << static_cast<int>(e.kind) << " #" << e.id.value << " " << R(e.range);
    switch (e.kind) {
      case ast::ExprKind::Int: os_ << static_cast<const ast::IntLit&>(e).value << "\n"; return;
      case ast::ExprKind::Float: {
        std::ostringstream v;
        v.precision(17);
        v << static_cast<const ast::FloatLit&>(e).value;
        os_ << v.str() << "\n";
        return;
      }
      case ast::ExprKind::Bool: os_ << static_cast<const ast::BoolLit&>(e).value << "\n"; return;
      case ast::ExprKind::Duration: os_ << static_cast<const ast::DurationLit&>(e).millis << "\n"; return;
      case ast::ExprKind::Size: os_ << static_cast<const ast::SizeLit&>(e).bytes << "\n"; return;
      case ast::ExprKind::None:
      case ast::ExprKind::Error: os_ << "\n"; return;
      case ast::ExprKind::String: {
        auto& s = static_cast<const ast::StringLit&>(e);
        os_ << (s.triple ? "triple" : "") << "\n";
        for (const auto& p : s.parts) {
          if (p.expr) Expr(*p.expr, depth + 1);
          else Indent(depth + 1), os_ << "text '" << p.text << "'\n";
        }
        return;
      }
      case ast::ExprKind::List:
        os_ << "\n";
        for (const auto& el : static_cast<const ast::ListLit&>(e).elements) Expr(*el, depth + 1);
        return;
      case ast::ExprKind::Name: os_ << static_cast<const ast::NameRef&>(e).name << "\n"; return;
      case ast::ExprKind::Member: {
        auto& m = static_cast<const ast::Member&>(e);
        os_ << m.name << R(m.name_range) << "\n";
        return Expr(*m.base, depth + 1);
      }
      case ast::ExprKind::Index: {
        auto& i = static_cast<const ast::Index&>(e);
        os_ << "\n";
        Expr(*i.base, depth + 1);
        return Expr(*i.index, depth + 1);
      }
      case ast::ExprKind::Unary: {
        auto& u = static_cast<const ast::Unary&>(e);
        os_ << ast::Spelling(u.op) << "\n";
        return Expr(*u.operand, depth + 1);
      }
      case ast::ExprKind::Binary: {
        auto& b = static_cast<const ast::Binary&>(e);
        os_ << ast::Spelling(b.op) << R(b.op_range) << "\n";
        Expr(*b.lhs, depth + 1);
        return Expr(*b.rhs, depth + 1);
      }
      case ast::ExprKind::Call: {
        auto& c = static_cast<const ast::Call&>(e);
        os_ << c.callee << R(c.callee_range) << "\n";
        for (const auto& a : c.args) {
          Indent(depth + 1);
          os_ << "arg " << a.name << R(a.name_range) << "\n";
          Expr(*a.value, depth + 2);
        }
        return;
      }
    }
  }

  std::ostringstream os_;
};

struct Outcome {
  bool antlr_clean = false;  // the ANTLR path reported nothing
  bool fast_accepted = false;
  std::string antlr_dump, fast_dump, first_diag;
};

Outcome ParseBoth(const std::string& text) {
  SourceManager sm;
  FileId file = sm.AddBuffer("t.flow", text);
  DiagSink sink;
  ast::Module ref = ParseWithAntlr(sm, file, sink);
  Outcome o;
  o.antlr_clean = sink.diagnostics().empty();
  if (!o.antlr_clean) o.first_diag = sink.diagnostics().front().message;
  o.antlr_dump = FullDump().Module(ref);
  std::optional<ast::Module> fast = ParseFast(sm, file);
  o.fast_accepted = fast.has_value();
  if (fast) o.fast_dump = FullDump().Module(*fast);
  return o;
}

// "" when the two parsers agree; else what differs.
std::string Compare(const Outcome& o) {
  if (o.fast_accepted && !o.antlr_clean) return "fast parser accepted what ANTLR rejects: " + o.first_diag;
  if (o.fast_accepted && o.fast_dump != o.antlr_dump)
    return "ASTs differ\n--- antlr\n" + o.antlr_dump + "--- fast\n" + o.fast_dump;
  if (o.antlr_clean && !o.fast_accepted) return "fast parser gave up on a clean file";
  return "";
}

std::string Check(const std::string& text) { return Compare(ParseBoth(text)); }

std::vector<std::string> TreeFiles() {
  std::vector<std::string> texts;
  std::error_code ec;
  for (llvm::sys::fs::recursive_directory_iterator it(FLOW_SOURCE_DIR, ec), end; it != end && !ec;
       it.increment(ec)) {
    llvm::StringRef path = it->path();
    if (path.contains("/build") || path.contains("/.git") || path.contains("/node_modules")) {
      it.no_push();
      continue;
    }
    if (!path.endswith(".flow")) continue;
    std::ifstream in(path.str(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    texts.push_back(ss.str());
  }
  return texts;
}

// `list<...<int>...>` with `levels` levels of `<`.
std::string TypeOfDepth(int levels) {
  std::string type = "int";
  for (int i = 0; i < levels; ++i) type = "list<" + type + ">";
  return type;
}
std::string NestedType(int levels) { return "param x: " + TypeOfDepth(levels) + " = []\n"; }

TEST(FastParserTest, AgreesOnAmbiguousAndTrickyForms) {
  const char* cases[] = {
      // precedence and associativity
      "param a = 1 + 2 * 3 - 4 / 5 % 6\n",
      "param a = -x.y[0] * -3\n",
      "param a = not a == b and c or not d\n",
      "param a = x * not b == c\n",
      "param a = a == not b and c\n",
      "param a = x ?? y ?? z + 1 < 4 == true\n",
      "param a = ((1))\n",
      "param a = (a + b) * (c - d)\n",
      "param a = - - 3\n",
      "param a = not not true\n",
      "param a = f(x: 1, 2, y: [1, 2,],)[0].b\n",
      "param a = []\nparam b = [[]]\nparam c = f()\n",
      // statements without separators
      "pipeline p {\n  let x = a\n  -b\n}\n",
      "pipeline p {\n  let x = a\n  [0]\n}\n",
      "pipeline p {\n  let x = f\n  (1)\n}\n",
      // `[` after an expression: an index where `[ expr ]` can follow, else a
      // list that begins the next statement (found by the fuzzing review)
      "pipeline p{x[]}",
      "pipeline p { let x = a\n[1, 2] }\n",
      "pipeline p { let x = a[1]\n[2, 3,] }\n",
      "pipeline p { let x = a[[1, 2][0]]\n[f(1, 2)] }\n",
      "pipeline p { let x = a\n[(1), [2, 3]] }\n",
      "pipeline p {\n  let x = a.b\n  (1)\n}\n",
      "pipeline p {\n  x = 1\n  x\n  y == 2\n  output o = x\n}\n",
      "pipeline p(a: int, b: list<file>? = none) -> (o: file) {\n  var v = 1\n  v = v + 1\n}\n",
      "pipeline p -> (o: int) { output o = 1 }\n",
      "pipeline p() { }\n",
      "pipeline p {\n  if a { } else if b { x() } else { y() }\n  if c { }\n  else { }\n}\n",
      "pipeline p {\n  for i in range(3) { s(i: i) }\n  while x < 3 max 10 { x = x + 1 }\n}\n",
      "pipeline p {\n  while f (x) max max(1, 2) { }\n}\n",
      // declarations
      "import std.ml\nimport \"lib/a.flow\"\nimport a.b.c\n",
      "import \"\"\n",
      "record R { a: int, b: list<map<string, file?>>?, }\nrecord E {}\n",
      "param x: int\nparam y: float? = none\nparam z = 1.5e3\n",
      "stage s(a: int = 1, b: string = \"x\",) -> (o: file, p: int) {\n"
      "  resources { cpus: 2, memory: 4GB, \"gpu\": 1, }\n  env { A: \"1\", \"B\": \"{a}\" }\n"
      "  retry 2\n  timeout 30m\n  estimate 1.5s\n  cache false\n  run \"echo {a} > {o}\"\n}\n",
      "stage s() { resources { } run \"x\" }\n",
      "stage s() { env { \"\": 1, A: 2 } run \"x\" }\n",
      // an empty key drops its value unbuilt: literals in it draw nothing
      "stage s() { env { \"\": 9999999TB, \"\": \"\\q\", \"\": \"{\", \"\": f(\"}{x y}\") } run \"x\" }\n",
      // literals
      "param a = 5ms\nparam b = 2.5h\nparam c = 1d\nparam d = 512B\nparam e = 1.5KB\nparam f = 2TB\n",
      "param a = 9223372036854775807\nparam b = 1e308\nparam c = 0.0\n",
      "param s = \"a{{b}} {n} \\\"q\\\"\\t\\n\\\\\"\n",
      "param s = \"\"\"multi\nline {x + 1} \\d\n\"\"\"\n",
      "param s = \"{a}{b.c[0]}{f(x: 1)}\"\n",
      "param s = \"{ a }\"\n",
      "param s = \"\xC3\xA9{x}\xE2\x82\xAC\"\nparam t = \"\xF0\x9F\x98\x80\" # \xC3\xA9\n",
      "\xEF\xBB\xBFparam a = 1\n",
      "\xEF\xBB\xBF",
      "",
      "# only a comment\n",
      "param a = 1 # trailing\n\n\n",
  };
  for (const char* c : cases) EXPECT_EQ(Check(c), "") << "input:\n" << c;
}

// Every operator against every other, in both orders, with the prefix and
// suffix forms around them: precedence and associativity, exhaustively.
TEST(FastParserTest, AgreesOnEveryPairOfOperators) {
  const std::vector<std::string> binary = {"*", "/", "%", "+", "-", "??", "<", "<=", ">", ">=", "==", "!=", "and", "or"};
  std::vector<std::string> forms;
  for (const auto& a : binary) {
    forms.push_back("-x " + a + " y");
    forms.push_back("not x " + a + " y");
    forms.push_back("x " + a + " -y");
    forms.push_back("x " + a + " not y");
    forms.push_back("x.m " + a + " y[0]");
    forms.push_back("-x.m[0] " + a + " y.n");
    for (const auto& b : binary) {
      forms.push_back("x " + a + " y " + b + " z");
      forms.push_back("(x " + a + " y) " + b + " z");
      forms.push_back("x " + a + " not y " + b + " z");
      forms.push_back("not x " + a + " y " + b + " z");
      forms.push_back("x " + a + " -y " + b + " z");
    }
  }
  for (const auto& f : forms) {
    std::string text = "param p = " + f + "\n";
    std::string result = Check(text);
    EXPECT_EQ(result, "") << "input: " << text;
    if (!result.empty()) break;
  }
}

TEST(FastParserTest, GivesUpWhereTheAntlrPathReports) {
  // Each of these draws a diagnostic on the ANTLR path; the fast parser
  // must hand every one of them over.
  const std::string cases[] = {
      "param a = \n",
      "param a = 1 +\n",
      "stage s() { rum \"x\" }\n",
      "stage s() { run \"x\" run \"y\" }\n",
      "stage s() { run { a: 1 } }\n",
      "stage s() { resources 2 }\n",
      "stage s() { rsources { cpus: 1 } run \"x\" }\n",
      "stage s() { env A } }\n",
      "stage s() { run \"x\"\n",
      "pipeline p { while x { } }\n",
      "pipeline p { while x min 3 { } }\n",
      "pipeline p { let x = }\n",
      "pipeline p {\n",
      "param a = 99999999999999999999\n",
      "param a = 1e999\n",
      "param a = 5min\n",
      "param a = \"\\q\"\n",
      "param a = \"{\"\n",
      "param a = \"{}\"\n",
      "param a = \"}\"\n",
      "param a = \"{x y}\"\n",
      "param a = \"unterminated\n",
      "param a = 'x'\n",
      "param a = 1 $\n",
      "let x = 1\n",
      "param a = " + std::string(300, '(') + "1" + std::string(300, ')') + "\n",
      "param a = " + std::string(300, '-') + "1\n",
      "import \"\"\"x\"\"\"\n",
      "stage s(a: list<int>= []) { run \"x\" }\n",
      NestedType(257),
  };
  for (const std::string& c : cases) {
    Outcome o = ParseBoth(c);
    EXPECT_FALSE(o.antlr_clean) << "input:\n" << c;
    EXPECT_FALSE(o.fast_accepted) << "input:\n" << c;
  }
}

TEST(FastParserTest, AgreesOnTypesNestedToTheLimit) {
  EXPECT_EQ(Check(NestedType(256)), "");
  std::string record = "record R { a: map<string, list<int?>?>, b: " + TypeOfDepth(100) + " }\n";
  EXPECT_EQ(Check(record), "");
  EXPECT_TRUE(ParseBoth(record).fast_accepted);
}

TEST(FastParserTest, LeavesDeepExpressionsToAntlr) {
  // 20,000 operators: the ANTLR path reports the nesting; 3,000 it accepts,
  // and so must the fast parser, with the same tree.
  std::string deep = "param a = 1";
  for (int i = 0; i < 20000; ++i) deep += " + 1";
  Outcome o = ParseBoth(deep + "\n");
  EXPECT_FALSE(o.antlr_clean);
  EXPECT_FALSE(o.fast_accepted);
  std::string ok = "param a = 1";
  for (int i = 0; i < 3000; ++i) ok += " + 1";
  EXPECT_EQ(Check(ok + "\n"), "");
}

TEST(FastParserTest, AgreesOnEveryFlowFileInTheTree) {
  std::vector<std::string> texts = TreeFiles();
  ASSERT_GT(texts.size(), 50u) << "the .flow files of the tree were not found under " << FLOW_SOURCE_DIR;
  int clean = 0;
  for (const std::string& t : texts) {
    EXPECT_EQ(Check(t), "") << "input:\n" << t;
    clean += ParseBoth(t).antlr_clean;
  }
  EXPECT_GT(clean, 30);  // most files of the tree are valid: the comparison is not vacuous
}

TEST(FastParserTest, AgreesOnGeneratedPrograms) {
  for (uint64_t seed = 1; seed <= 300; ++seed) {
    std::string text = testing::gen::ProgramGen(seed).Program();
    EXPECT_EQ(Check(text), "") << "seed " << seed << ":\n" << text;
  }
}

// Token-level mutations (drop, repeat, swap, insert) of valid programs: the
// fast parser must never accept what the ANTLR path rejects or build another
// tree; a mutant that stays valid must be accepted.
TEST(FastParserTest, AgreesOnMutations) {
  std::vector<std::string> bases = TreeFiles();
  for (uint64_t seed = 1; seed <= 100; ++seed) bases.push_back(testing::gen::ProgramGen(seed).Program());
  const char* inserts[] = {"-",  "not", "(",  ")",  "[",  "]",   "{",  "}",    ",",    ":",  ".",  "=",
                           "==", "??",  "+",  "*",  "<",  ">",   "?",  "->",   "x",    "max", "1", "2s",
                           "\"s\"", "\"{x}\"", "if", "else", "let", "while", "stage", "in",  "\n",
                           // pairs that often leave a valid program, so that trees get compared
                           "+ 1", "- x", "* 2", "?? 3", "== 1", "and true", "or x", ".m", "[0]", "\n(1)",
                           "\n-1", "\n[1]", "\nnot x", "let q = 1\n", "x = 2\n", "f()", "(1)"};
  std::mt19937_64 rng(7);
  int mutants = 0, accepted = 0, valid = 0;
  for (const std::string& base : bases) {
    std::vector<RawToken> toks = LexFast(base);
    if (toks.size() < 3) continue;
    // Byte offsets of the tokens (the tree's files may hold non-ASCII text).
    std::vector<size_t> cp_to_byte;
    for (size_t i = 0; i < base.size(); ++i)
      if ((static_cast<unsigned char>(base[i]) & 0xC0) != 0x80) cp_to_byte.push_back(i);
    cp_to_byte.push_back(base.size());
    auto at = [&](size_t cp) { return cp < cp_to_byte.size() ? cp_to_byte[cp] : base.size(); };
    for (int m = 0; m < 25; ++m) {
      size_t i = rng() % (toks.size() - 1);  // not EOF
      size_t b = at(toks[i].start), e = at(toks[i].stop + 1);
      std::string text;
      switch (rng() % 4) {
        case 0: text = base.substr(0, b) + " " + base.substr(e); break;
        case 1: text = base.substr(0, e) + " " + base.substr(b, e - b) + base.substr(e); break;
        case 2: {
          size_t j = i + 1 < toks.size() - 1 ? i + 1 : i;
          size_t b2 = at(toks[j].start), e2 = at(toks[j].stop + 1);
          if (j == i) continue;
          text = base.substr(0, b) + base.substr(b2, e2 - b2) + base.substr(e, b2 - e) + base.substr(b, e - b) +
                 base.substr(e2);
          break;
        }
        default:
          text = base.substr(0, b) + " " + inserts[rng() % std::size(inserts)] + " " + base.substr(b);
          break;
      }
      ++mutants;
      Outcome o = ParseBoth(text);
      accepted += o.fast_accepted;
      valid += o.antlr_clean;
      ASSERT_EQ(Compare(o), "") << "mutant:\n" << text;
    }
  }
  // Not vacuous: many mutants stay valid and are compared, many are not.
  EXPECT_GT(mutants, 2000);
  EXPECT_GT(accepted, mutants / 20);
  EXPECT_GT(mutants - valid, mutants / 4);
  std::cout << mutants << " mutants, " << valid << " valid, all accepted and equal\n";
}

}  // namespace
}  // namespace flow::syntax
