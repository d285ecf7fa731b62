// SPDX-License-Identifier: Apache-2.0
// The baseline flowc's front end is measured against: a plain ANTLR4 parse
// of a whole file (generated lexer, one parse tree for the `file` rule, the
// default LL prediction), as a tool would do without the care of
// compiler/syntax. Prints nothing but the number of syntax errors.
#include <fstream>
#include <iostream>
#include <sstream>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wall"
#pragma GCC diagnostic ignored "-Wextra"
#include "FlowLexer.h"
#include "FlowParser.h"
#include "antlr4-runtime.h"
#pragma GCC diagnostic pop

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: antlr_baseline FILE.flow\n";
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  std::stringstream buf;
  buf << in.rdbuf();
  std::string text = buf.str();
  antlr4::ANTLRInputStream input(text);
  flowgen::FlowLexer lexer(&input);
  antlr4::CommonTokenStream tokens(&lexer);
  flowgen::FlowParser parser(&tokens);
  parser.file();
  std::cout << parser.getNumberOfSyntaxErrors() << "\n";
  return 0;
}
