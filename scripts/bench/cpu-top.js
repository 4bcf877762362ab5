#!/usr/bin/env node
/**
 * Top frames by self time of a V8 .cpuprofile (node --cpu-prof), idle excluded:
 *   node scripts/bench/cpu-top.js <file.cpuprofile> [n=25]
 * Prints JSON rows {self_pct, self_ms, fn, at}, the format the bench report quotes.
 */
const { readFileSync } = require('node:fs');
const { relative } = require('node:path');

function cpuTop(file, n = 25) {
  const p = JSON.parse(readFileSync(file, 'utf8'));
  const self = new Map();
  const byId = new Map(p.nodes.map((x) => [x.id, x]));
  const dt = new Map();
  for (let i = 0; i < p.samples.length; i++) dt.set(p.samples[i], (dt.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
  let busy = 0;
  for (const [id, us] of dt) {
    const f = byId.get(id).callFrame;
    if (f.functionName === '(idle)') continue;
    busy += us;
    const url = f.url ? relative(process.cwd(), f.url.replace('file://', '')) : '';
    const key = `${f.functionName || '(anonymous)'}\t${url}${url ? `:${f.lineNumber + 1}` : ''}`;
    self.set(key, (self.get(key) ?? 0) + us);
  }
  const rows = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, n);
  return {
    busy_ms: Math.round(busy / 1000),
    top: rows.map(([k, us]) => {
      const [fn, at] = k.split('\t');
      return { self_pct: Math.round((us / busy) * 1000) / 10, self_ms: Math.round(us / 1000), fn, at };
    }),
  };
}

if (require.main === module) {
  const out = cpuTop(process.argv[2], Number(process.argv[3] ?? 25));
  process.stdout.write(`busy ${out.busy_ms} ms\n`);
  for (const r of out.top) process.stdout.write(`${String(r.self_pct).padStart(5)}%  ${String(r.self_ms).padStart(6)} ms  ${r.fn}  ${r.at}\n`);
}

module.exports = { cpuTop };
