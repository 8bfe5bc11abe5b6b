// Load arrakis' HTML views in headless Chromium (Debian's /usr/bin/chromium
// driven by playwright-core over the DevTools protocol; no browser download)
// and check that they work offline:
//   - no console errors, no page errors, no network request leaves file://;
//   - hovering a token (attention, tokens) or a cell (lens) changes the
//     highlighted cells: classes and inline styles are read before and after.
//
// usage: node view_check.mjs PLAYWRIGHT_CORE_DIR attention|lens|tokens FILE.html [SCREENSHOT.png]
// Prints "ok: ..." lines; exits 1 with "FAIL: ..." on the first failure.
import { createRequire } from "node:module";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const [pwDir, kind, file, shot] = process.argv.slice(2);
if (!pwDir || !kind || !file) {
  console.error("usage: node view_check.mjs PLAYWRIGHT_CORE_DIR attention|lens|tokens FILE.html [SCREENSHOT.png]");
  process.exit(2);
}
const require = createRequire(join(resolve(pwDir), "package.json"));
const { chromium } = require("playwright-core");

function fail(msg) {
  console.log("FAIL: " + msg);
  process.exitCode = 1;
  throw new Error(msg);
}
function ok(msg) { console.log("ok: " + msg); }

const profile = mkdtempSync(join(tmpdir(), "ark-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  viewport: { width: 1280, height: 900 },
});
const errors = [], requests = [];
try {
  const page = context.pages()[0] || await context.newPage();
  page.on("console", m => { if (m.type() === "error") errors.push(m.text()); });
  page.on("pageerror", e => errors.push(String(e)));
  page.on("request", r => { if (!r.url().startsWith("file:") && !r.url().startsWith("data:")) requests.push(r.url()); });
  await page.goto(pathToFileURL(resolve(file)).href, { waitUntil: "load" });
  await page.waitForTimeout(100);

  if (kind === "attention") await checkAttention(page);
  else if (kind === "lens") await checkLens(page);
  else if (kind === "tokens") await checkTokens(page);
  else fail("unknown view kind " + kind);

  if (shot) await page.screenshot({ path: shot, fullPage: true });
  if (errors.length) fail("console errors: " + errors.join(" | "));
  ok("no console errors");
  if (requests.length) fail("network requests: " + requests.join(", "));
  ok("no network requests");
} catch (e) {
  if (!process.exitCode) { console.log("FAIL: " + e.message); process.exitCode = 1; }
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}

/* The style and classes of every element matching sel. */
async function states(page, sel) {
  return page.$$eval(sel, els => els.map(e => e.className + "|" + e.getAttribute("style")));
}
function changed(a, b) { let n = 0; for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++; return n; }

async function checkAttention(page) {
  const toks = await page.$$("#tokens .tok");
  if (toks.length < 2) fail("attention: fewer than 2 tokens in the strip");
  const heads = await page.$$("#heads .head");
  if (!heads.length) fail("attention: no head thumbnails");
  ok(`attention: ${toks.length} tokens, ${heads.length} heads`);
  const before = await states(page, "#tokens .tok");
  const last = toks.length - 1;
  await toks[last].hover();
  const after = await states(page, "#tokens .tok");
  const n = changed(before, after);
  if (n < 2) fail(`attention: hovering token ${last} changed ${n} token(s), expected >= 2`);
  const hovered = await page.$$eval("#tokens .tok.hovered", e => e.length);
  const attended = await page.$$eval("#tokens .tok.attended", e => e.length);
  if (hovered !== 1 || attended < 1) fail(`attention: after hover ${hovered} hovered / ${attended} attended tokens`);
  ok(`attention: hover changed ${n} tokens (${attended} attended)`);
  // the map of the selected head marks the hovered row: its pixels change
  const canvasBefore = await page.$eval("#big", c => c.toDataURL());
  await page.mouse.move(0, 0);
  const canvasAfter = await page.$eval("#big", c => c.toDataURL());
  if (canvasBefore === canvasAfter) fail("attention: the enlarged map did not change when the hover ended");
  const back = await states(page, "#tokens .tok");
  if (changed(before, back) !== 0) fail("attention: leaving the token did not restore the strip");
  ok("attention: leaving restores the strip");
  // click the second head: it becomes the selected one
  if (heads.length > 1) {
    await heads[1].click();
    const sel = await page.$eval("#heads .head.selected", e => e.dataset.head);
    if (sel !== "1") fail("attention: clicking head 1 selected head " + sel);
    ok("attention: click selects a head");
  }
}

async function checkLens(page) {
  const cells = await page.$$("#lens td");
  if (!cells.length) fail("lens: no cells");
  const before = await states(page, "#lens td, #lens th");
  const detailBefore = await page.$eval("#detail", e => e.textContent);
  await cells[cells.length - 1].hover();
  const after = await states(page, "#lens td, #lens th");
  const n = changed(before, after);
  if (n < 1) fail("lens: hovering a cell changed nothing");
  const hl = await page.$$eval("#lens td.hl", e => e.length);
  const detail = await page.$eval("#detail", e => e.textContent);
  if (hl !== 1 || detail === detailBefore || !/p=/.test(detail)) fail(`lens: ${hl} highlighted cells, detail "${detail}"`);
  ok(`lens: hover highlighted a cell (${n} elements changed); detail shows top tokens`);
  const col = await page.$$("#lens th.col");
  await col[0].hover();
  const colhl = await page.$$eval("#lens td.colhl", e => e.length);
  if (colhl < 1) fail("lens: hovering a token header outlined no column");
  ok(`lens: hovering a token outlines its column (${colhl} cells)`);
}

async function checkTokens(page) {
  const toks = await page.$$(".tok");
  if (toks.length < 2) fail("tokens: fewer than 2 tokens");
  const colours = new Set(await page.$$eval(".tok", els => els.map(e => e.style.backgroundColor)));
  if (colours.size < 2) fail("tokens: every token has the same colour");
  const before = await states(page, ".tok");
  await toks[1].hover();
  const after = await states(page, ".tok");
  const n = changed(before, after);
  const detail = await page.$eval("#detail", e => e.textContent);
  if (n !== 1 || !/= /.test(detail)) fail(`tokens: hover changed ${n} tokens, detail "${detail}"`);
  ok(`tokens: ${toks.length} tokens in ${colours.size} colours; hover highlights one and shows "${detail.trim()}"`);
}
