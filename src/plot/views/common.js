/* arrakis views: shared helpers (written for these views; no libraries). */
"use strict";
const DATA = JSON.parse(document.getElementById("ark-data").textContent);
const APP = document.getElementById("app");

/* viridis at 9 evenly spaced stops (matplotlib's table), linear between. */
const VIRIDIS = [[68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141],
                 [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37]];
/* ColorBrewer RdBu, negative (blue) to positive (red). */
const RDBU = [[5, 48, 97], [33, 102, 172], [67, 147, 195], [146, 197, 222], [209, 229, 240], [247, 247, 247],
              [253, 219, 199], [244, 165, 130], [214, 96, 77], [178, 24, 43], [103, 0, 31]];

function ramp(stops, t) {
  if (!(t > 0)) t = 0;
  if (t > 1) t = 1;
  const x = t * (stops.length - 1), i = Math.min(Math.floor(x), stops.length - 2), f = x - i;
  const a = stops[i], b = stops[i + 1];
  return [0, 1, 2].map(j => Math.round(a[j] + f * (b[j] - a[j])));
}
function rgb(c) { return "rgb(" + c[0] + "," + c[1] + "," + c[2] + ")"; }
function viridis(t) { return ramp(VIRIDIS, t); }
/* v in [-m, m] → RdBu, 0 white. */
function diverging(v, m) { return ramp(RDBU, 0.5 + 0.5 * (m > 0 ? v / m : 0)); }
function textOn(c) { return (0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]) / 255 > 0.5 ? "#000" : "#fff"; }
/* A token as shown: newlines and tabs visible. */
function show(s) { return String(s).replace(/\n/g, "\u21b5").replace(/\t/g, "\u21e5"); }
function fmt(v) {
  if (v === null || v === undefined || !isFinite(v)) return "n/a";
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(2) : String(+v.toPrecision(4));
}
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}
const TIP = document.getElementById("tooltip");
function tip(ev, text) {
  TIP.textContent = text;
  TIP.hidden = false;
  TIP.style.left = (ev.clientX + 12) + "px";
  TIP.style.top = (ev.clientY + 12) + "px";
}
function untip() { TIP.hidden = true; }
function help(text) { document.getElementById("help").textContent = text; }
