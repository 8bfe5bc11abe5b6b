// Hugging Face `tokenizers` (the npm package: the Rust library behind a native
// Node binding) encoding the same text as bench_tokenizer, for comparison.
//
// usage: node bench/tokenizer_hf.js TOKENIZER_JSON TEXT_FILE RUNS
// prints one JSON line: {"load_s", "times": [...], "tokens", "checksum",
//                        "line_times": [...], "line_tokens", "lines", "version"}
// "times": encode(the whole text); "line_times": encodeBatch(its lines).
//
// The module is looked up as `tokenizers`, then under $ARK_HF_TOKENIZERS, then
// in the usual build folders (install it with
// `npm install --prefix build-tok/npm tokenizers`).
'use strict';
const fs = require('fs');
const path = require('path');

function loadModule() {
  const tries = ['tokenizers'];
  if (process.env.ARK_HF_TOKENIZERS) tries.push(process.env.ARK_HF_TOKENIZERS);
  for (const b of ['build-tok', 'build']) tries.push(path.resolve(b, 'npm/node_modules/tokenizers'));
  for (const t of tries) {
    try {
      const m = require(t);
      let version = 'unknown';
      try { version = require(path.join(path.dirname(require.resolve(t)), 'package.json')).version; } catch (e) {}
      return [m, version];
    } catch (e) { /* next */ }
  }
  throw new Error('cannot find the npm package "tokenizers" (tried ' + tries.join(', ') + ')');
}

async function main() {
  const [file, textFile, runsArg] = process.argv.slice(2);
  const runs = parseInt(runsArg || '5', 10);
  const [{ Tokenizer }, version] = loadModule();
  const text = fs.readFileSync(textFile, 'utf8');
  const t0 = process.hrtime.bigint();
  const tok = Tokenizer.fromFile(file);
  const load = Number(process.hrtime.bigint() - t0) / 1e9;
  const times = [];
  let ids = null;
  for (let r = 0; r < runs; r++) {
    const s = process.hrtime.bigint();
    const enc = await tok.encode(text, null, { addSpecialTokens: false });
    times.push(Number(process.hrtime.bigint() - s) / 1e9); // the encode call only
    ids = enc.getIds();
  }
  // the same checksum as bench_tokenizer.c: sum of id * (i % 7919 + 1)
  let checksum = 0;
  for (let i = 0; i < ids.length; i++) checksum += ids[i] * ((i % 7919) + 1);
  // the same text as many short inputs: one encodeBatch call per run (one
  // thread: RAYON_NUM_THREADS=1 is set by the caller)
  const lines = text.split('\n');
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  const line_times = [];
  let line_tokens = 0;
  for (let r = 0; r < runs; r++) {
    const s = process.hrtime.bigint();
    const encs = await tok.encodeBatch(lines, { addSpecialTokens: false });
    line_times.push(Number(process.hrtime.bigint() - s) / 1e9);
    line_tokens = 0;
    for (const e of encs) line_tokens += e.getLength();
  }
  console.log(JSON.stringify({ load_s: load, times, tokens: ids.length, checksum, line_times, line_tokens,
                               lines: lines.length, version }));
}

main().catch((e) => { console.error(String(e && e.message ? e.message : e)); process.exit(1); });
