#!/usr/bin/env node
/**
 * Keeps the dependency rules of docs/CONTRACT.md: apps -> packages only, `core` and `config`
 * import none of ours, no cycles between packages, no deep imports across packages, and
 * every @agentyard import declared in the importing package's package.json.
 */
const { readdirSync, readFileSync, statSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
const units = [];
for (const kind of ['packages', 'apps']) {
  for (const dir of readdirSync(join(root, kind))) {
    const pkgPath = join(root, kind, dir, 'package.json');
    try {
      const pkg = JSON.parse(readFileSync(pkgPath, 'utf8'));
      units.push({ kind, dir, name: pkg.name, deps: Object.keys(pkg.dependencies ?? {}).filter((d) => d.startsWith('@agentyard/')) });
    } catch {
      // not a package
    }
  }
}
const byName = new Map(units.map((u) => [u.name, u]));
const problems = [];

for (const u of units) {
  if (['@agentyard/core', '@agentyard/config'].includes(u.name) && u.deps.length) problems.push(`${u.name} must not depend on ${u.deps.join(', ')}`);
  for (const d of u.deps) {
    const target = byName.get(d);
    if (!target) problems.push(`${u.name} depends on unknown ${d}`);
    else if (target.kind === 'apps') problems.push(`${u.name} depends on the app ${d}`);
  }
  const files = [];
  const walk = (p) => {
    for (const f of readdirSync(p)) {
      const full = join(p, f);
      if (statSync(full).isDirectory()) walk(full);
      else if (f.endsWith('.ts') && !f.endsWith('.test.ts')) files.push(full);
    }
  };
  walk(join(root, u.kind, u.dir, 'src'));
  for (const f of files) {
    for (const m of readFileSync(f, 'utf8').matchAll(/from '(@agentyard\/[^']+)'/g)) {
      const spec = m[1];
      const base = spec.split('/').slice(0, 2).join('/');
      if (spec !== base) problems.push(`${f.slice(root.length + 1)}: deep import ${spec}`);
      if (base !== u.name && !u.deps.includes(base)) problems.push(`${f.slice(root.length + 1)}: imports ${base}, not in ${u.name} dependencies`);
    }
  }
}

const state = new Map();
const visit = (name, path) => {
  if (state.get(name) === 'done') return;
  if (state.get(name) === 'visiting') {
    problems.push(`dependency cycle: ${[...path, name].join(' -> ')}`);
    return;
  }
  state.set(name, 'visiting');
  for (const d of byName.get(name)?.deps ?? []) visit(d, [...path, name]);
  state.set(name, 'done');
};
for (const u of units) visit(u.name, []);

if (problems.length) {
  console.error(`dependency rules broken:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  process.exit(1);
}
console.log(`dependency rules hold for ${units.length} packages`);
