// SPDX-License-Identifier: Apache-2.0
// The grammar of .flow files. C++ is generated from it at build time
// (antlr4 -Dlanguage=Cpp -no-listener -no-visitor); only compiler/syntax sees it.
//
// Design notes:
// - Statements need no separators; newlines are whitespace.
// - Type names and stage body item names (resources, retry, ...) are plain
//   identifiers checked by the AST builder, so they stay usable as names and
//   errors about them are ours, not the parser's.
// - `max` in `while C max N` is an identifier too (it is also a builtin).
// - The driver parses one top-level item or one pipeline statement at a time
//   (import/param/record, stageHead then each stageItem, pipelineHead then
//   each statement) and frees the parse tree after each.
grammar Flow;

// ---------------------------------------------------------------- parser

file : topItem* EOF ;

topItem
  : importDecl
  | paramDecl
  | recordDecl
  | stageDecl
  | pipelineDecl
  ;

importDecl : IMPORT (STRING | dottedName) ;
dottedName : IDENT ('.' IDENT)* ;

paramDecl : PARAM IDENT (':' typeRef)? ('=' expr)? ;

recordDecl : RECORD IDENT '{' (fieldDef (',' fieldDef)* ','?)? '}' ;
fieldDef : IDENT ':' typeRef ;

typeRef : IDENT ('<' typeRef (',' typeRef)* '>')? QUESTION? ;

stageDecl : stageHead stageItem* '}' ;
stageHead : STAGE IDENT '(' paramList? ')' (ARROW '(' paramList? ')')? '{' ;
paramList : paramDef (',' paramDef)* ','? ;
paramDef : IDENT ':' typeRef ('=' expr)? ;

stageItem
  : IDENT '{' (mapEntry (',' mapEntry)* ','?)? '}'   # stageMapItem
  | IDENT expr                                        # stageExprItem
  ;
mapEntry : (IDENT | STRING) ':' expr ;

pipelineDecl : pipelineHead statement* '}' ;
pipelineHead : PIPELINE IDENT ('(' paramList? ')')? (ARROW '(' paramList? ')')? '{' ;

block : '{' statement* '}' ;

statement
  : LET IDENT '=' expr                                 # letStmt
  | VAR IDENT '=' expr                                 # varStmt
  | OUTPUT IDENT '=' expr                              # outputStmt
  | IF expr block (ELSE IF expr block)* (ELSE block)?  # ifStmt
  | FOR IDENT IN expr block                            # forStmt
  | WHILE expr (IDENT expr)? block                     # whileStmt
  | IDENT '=' expr                                     # assignStmt
  | expr                                               # exprStmt
  ;

// Precedence from tightest to loosest. `??` (left-associative, which gives
// the same value as right) binds looser than arithmetic and
// tighter than comparison (as in Swift), `not` looser than comparison (Python).
expr
  : primary                                        # primaryExpr
  | expr '.' IDENT                                 # memberExpr
  | expr '[' expr ']'                              # indexExpr
  | '-' expr                                       # negExpr
  | expr op=('*' | '/' | '%') expr                 # mulExpr
  | expr op=('+' | '-') expr                       # addExpr
  | expr QQ expr                                   # coalesceExpr
  | expr op=('<' | '<=' | '>' | '>=') expr         # cmpExpr
  | expr op=('==' | '!=') expr                     # eqExpr
  | NOT expr                                       # notExpr
  | expr AND expr                                  # andExpr
  | expr OR expr                                   # orExpr
  ;

primary
  : INT                                            # intLit
  | FLOAT                                          # floatLit
  | DURATION                                       # durationLit
  | SIZE                                           # sizeLit
  | (TRUE | FALSE)                                 # boolLit
  | NONE                                           # noneLit
  | (STRING | TRIPLE_STRING)                       # stringLit
  | '[' (expr (',' expr)* ','?)? ']'               # listLit
  | '(' expr ')'                                   # parenExpr
  | IDENT '(' (arg (',' arg)* ','?)? ')'           # callExpr
  | IDENT                                          # nameExpr
  ;
arg : (IDENT ':')? expr ;

// Entry rule for the expression inside a string's `{...}`.
interpolation : expr EOF ;

// ---------------------------------------------------------------- lexer

IMPORT   : 'import' ;
PARAM    : 'param' ;
RECORD   : 'record' ;
STAGE    : 'stage' ;
PIPELINE : 'pipeline' ;
LET      : 'let' ;
VAR      : 'var' ;
OUTPUT   : 'output' ;
IF       : 'if' ;
ELSE     : 'else' ;
FOR      : 'for' ;
IN       : 'in' ;
WHILE    : 'while' ;
TRUE     : 'true' ;
FALSE    : 'false' ;
NONE     : 'none' ;
AND      : 'and' ;
OR       : 'or' ;
NOT      : 'not' ;

ARROW    : '->' ;
QQ       : '??' ;
QUESTION : '?' ;
LPAREN : '(' ; RPAREN : ')' ; LBRACE : '{' ; RBRACE : '}' ; LBRACK : '[' ; RBRACK : ']' ;
COMMA : ',' ; COLON : ':' ; DOT : '.' ; ASSIGN : '=' ;
PLUS : '+' ; MINUS : '-' ; STAR : '*' ; SLASH : '/' ; PERCENT : '%' ;
EQ : '==' ; NE : '!=' ; LT : '<' ; LE : '<=' ; GT : '>' ; GE : '>=' ;

DURATION : DIGITS ('.' DIGITS)? ('ms' | 's' | 'm' | 'h' | 'd') ;
SIZE     : DIGITS ('.' DIGITS)? ('B' | 'KB' | 'MB' | 'GB' | 'TB') ;
FLOAT    : DIGITS '.' DIGITS EXPONENT? | DIGITS EXPONENT ;
INT      : DIGITS ;
// A number glued to letters that form no unit (`5min`, `3x`): one token, so
// the builder can say what is wrong with it.
BAD_NUMBER : DIGITS ('.' DIGITS)? [A-Za-z_] [A-Za-z0-9_]* ;

IDENT : [A-Za-z_] [A-Za-z0-9_]* ;

TRIPLE_STRING : '"""' .*? '"""' ;
STRING        : '"' (ESC | ~["\\\r\n])* '"' ;
UNTERMINATED_TRIPLE_STRING : '"""' (~'"' | '"' ~'"' | '""' ~'"')* EOF ;
UNTERMINATED_STRING : '"' (ESC | ~["\\\r\n])* ;

COMMENT : '#' ~[\r\n]* -> skip ;
WS      : [ \t\r\n\f]+ -> skip ;
// Anything else is one token the parser never expects, so that a stray
// character becomes a diagnostic in our words.
BAD_CHAR : . ;

fragment DIGITS   : [0-9]+ ;
fragment EXPONENT : [eE] [+-]? [0-9]+ ;
fragment ESC      : '\\' . ;
