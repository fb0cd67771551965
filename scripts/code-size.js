#!/usr/bin/env node
// The size limits of nin's sources (issue 23): no file over 400 lines and no function over 80, so that
// each room stays one idea a reader takes in at once. Functions are found with the TypeScript compiler's
// parser (declarations, methods, constructors, accessors, function expressions and arrows, each counted
// from its first line to its last, nested ones included in their parent's count as they are read).
//   node scripts/code-size.js [DIR ...]          every .ts file under DIR (default src/), offenders listed,
//                                                exit 1 when there are any
//   node scripts/code-size.js --all [DIR ...]    also the largest files and functions within the limits
// test/code-size.test.ts runs it over src/ with the suite.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const ts = require('typescript');

const MAX_FILE_LINES = 400;
const MAX_FUNCTION_LINES = 80;

/** Every .ts file under `dir`, sorted, .d.ts files left out. */
function sourceFiles(dir) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(file));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(file);
  }
  return out.sort();
}

/** A function's name as a reader finds it: its own, its variable's, its property's, or `(anonymous)`. */
function functionName(node) {
  if (node.name && ts.isIdentifier(node.name)) return node.name.text;
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  const parent = node.parent;
  if (parent && (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent)))
    return ts.isIdentifier(parent.name) ? parent.name.text : '(anonymous)';
  return '(anonymous)';
}

const isFunction = (node) =>
  ts.isFunctionDeclaration(node) ||
  ts.isMethodDeclaration(node) ||
  ts.isConstructorDeclaration(node) ||
  ts.isGetAccessorDeclaration(node) ||
  ts.isSetAccessorDeclaration(node) ||
  ts.isFunctionExpression(node) ||
  ts.isArrowFunction(node);

/** The lines of `file` and of every function in it. */
function measure(file) {
  const text = fs.readFileSync(file, 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
  const functions = [];
  const visit = (node) => {
    if (isFunction(node) && node.body) {
      const first = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
      const last = source.getLineAndCharacterOfPosition(node.getEnd()).line + 1;
      functions.push({ name: functionName(node), line: first, lines: last - first + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return { file, lines, functions };
}

/** Every file over MAX_FILE_LINES and every function over MAX_FUNCTION_LINES under `dirs`. */
function offenders(dirs, root = process.cwd()) {
  const found = [];
  for (const dir of dirs) {
    for (const file of sourceFiles(path.resolve(root, dir))) {
      const m = measure(file);
      const name = path.relative(root, file);
      if (m.lines > MAX_FILE_LINES) found.push({ kind: 'file', where: name, lines: m.lines });
      for (const f of m.functions)
        if (f.lines > MAX_FUNCTION_LINES) found.push({ kind: 'function', where: `${name}:${f.line} ${f.name}`, lines: f.lines });
    }
  }
  return found;
}

module.exports = { MAX_FILE_LINES, MAX_FUNCTION_LINES, measure, offenders, sourceFiles };

if (require.main === module) {
  const args = process.argv.slice(2);
  const all = args.includes('--all');
  const dirs = args.filter((a) => a !== '--all');
  const root = path.resolve(__dirname, '..');
  const chosen = dirs.length ? dirs : ['src'];
  const found = offenders(chosen, root);
  for (const o of found) console.log(`${o.kind === 'file' ? 'file    ' : 'function'} ${o.lines} lines  ${o.where}`);
  if (all) {
    const measured = chosen.flatMap((d) => sourceFiles(path.resolve(root, d)).map(measure));
    const top = (rows) => rows.sort((a, b) => b.lines - a.lines).slice(0, 10);
    console.log(`largest files (limit ${MAX_FILE_LINES}):`);
    for (const m of top(measured.map((m) => ({ ...m })))) console.log(`  ${m.lines}  ${path.relative(root, m.file)}`);
    console.log(`largest functions (limit ${MAX_FUNCTION_LINES}):`);
    const fns = measured.flatMap((m) => m.functions.map((f) => ({ ...f, where: `${path.relative(root, m.file)}:${f.line} ${f.name}` })));
    for (const f of top(fns)) console.log(`  ${f.lines}  ${f.where}`);
  }
  console.log(
    found.length
      ? `${found.length} over the limits (files ${MAX_FILE_LINES} lines, functions ${MAX_FUNCTION_LINES})`
      : `within the limits: no file over ${MAX_FILE_LINES} lines, no function over ${MAX_FUNCTION_LINES}`,
  );
  process.exitCode = found.length ? 1 : 0;
}
