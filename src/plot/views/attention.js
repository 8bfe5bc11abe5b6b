/* The attention view: one layer's heads as thumbnails (click one to
 * enlarge it), the tokens as a strip.  Hovering token i colours every
 * token j by the selected head's pattern: background red = A[i][j] (what
 * i attends to, as a query), underline blue = A[j][i] (what attends to i,
 * as a key).  Hovering a cell of the enlarged map shows its weight. */
"use strict";
(function () {
  const toks = DATA.tokens, n = toks.length, layers = DATA.layers || [0];
  let li = 0, head = 0, hovered = -1;
  help("Hover a token: red background = how much it attends to each token (as query); blue underline = how " +
       "much each token attends to it (as key), in the selected head.  Click a head to enlarge it.");

  const bar = el("div", "legend");
  if (layers.length > 1) {
    bar.append("layer ");
    const sel = el("select");
    sel.id = "layer";
    layers.forEach((l, i) => { const o = el("option", "", String(l)); o.value = i; sel.append(o); });
    sel.onchange = () => { li = +sel.value; head = 0; drawHeads(); update(); };
    bar.append(sel);
  }
  const sw1 = el("span", "swatch"); sw1.style.background = "rgb(214,96,77)";
  const sw2 = el("span", "swatch"); sw2.style.background = "rgb(33,102,172)";
  bar.append(sw1, "attends to (query \u2192 key)", sw2, "attended by (key \u2190 query)");
  APP.append(bar);

  const strip = el("div", "tokens");
  strip.id = "tokens";
  const spans = toks.map((t, i) => {
    const s = el("span", "tok", show(t));
    s.dataset.i = i;
    s.addEventListener("mouseenter", () => { hovered = i; update(); });
    s.addEventListener("mouseleave", () => { hovered = -1; update(); });
    strip.append(s);
    return s;
  });
  APP.append(strip);
  const grid = el("div", "heads");
  grid.id = "heads";
  APP.append(grid);
  const big = el("div", "big");
  const bigTitle = el("div", "legend");
  const canvas = el("canvas");
  canvas.id = "big";
  big.append(bigTitle, canvas);
  APP.append(big);

  function pattern(h) { return DATA.patterns[li][h]; }

  function drawMap(cv, A, cell, hi) {
    cv.width = n * cell; cv.height = n * cell;
    const g = cv.getContext("2d");
    for (let q = 0; q < n; q++)
      for (let k = 0; k < n; k++) {
        const v = A[q][k];
        g.fillStyle = v === null ? "#ddd" : rgb(viridis(v));
        g.fillRect(k * cell, q * cell, cell, cell);
      }
    if (hi >= 0) {
      g.strokeStyle = "#ff3b30"; g.lineWidth = Math.max(1, cell / 6);
      g.strokeRect(0, hi * cell, n * cell, cell);
      g.strokeStyle = "#2f7cff";
      g.strokeRect(hi * cell, 0, cell, n * cell);
    }
  }

  function drawHeads() {
    grid.textContent = "";
    const H = DATA.patterns[li].length, cell = Math.max(1, Math.floor(120 / n));
    for (let h = 0; h < H; h++) {
      const box = el("div", "head" + (h === head ? " selected" : ""));
      box.dataset.head = h;
      const cv = el("canvas");
      drawMap(cv, pattern(h), cell, hovered);
      box.append(cv, el("div", "", "L" + layers[li] + "H" + h));
      box.addEventListener("click", () => { head = h; drawHeads(); update(); });
      grid.append(box);
    }
  }

  function update() {
    const A = pattern(head);
    spans.forEach((s, j) => {
      s.classList.toggle("hovered", j === hovered);
      s.classList.remove("attended", "attending");
      if (hovered < 0) { s.style.backgroundColor = ""; s.style.borderBottomColor = "transparent"; s.title = ""; return; }
      const to = A[hovered][j] || 0, from = A[j][hovered] || 0;
      s.style.backgroundColor = "rgba(214,96,77," + to.toFixed(3) + ")";
      s.style.borderBottomColor = "rgba(33,102,172," + from.toFixed(3) + ")";
      if (to > 0) s.classList.add("attended");
      if (from > 0) s.classList.add("attending");
      s.title = "attention " + show(toks[hovered]) + " \u2192 " + show(t(j)) + ": " + fmt(to) + "\n" +
                show(t(j)) + " \u2192 " + show(toks[hovered]) + ": " + fmt(from);
    });
    grid.querySelectorAll("canvas").forEach((cv, h) => drawMap(cv, pattern(h), Math.max(1, Math.floor(120 / n)), hovered));
    const cell = Math.max(4, Math.min(64, Math.floor(560 / n)));
    drawMap(canvas, A, cell, hovered);
    bigTitle.textContent = "L" + layers[li] + "H" + head + " (query rows \u00d7 key columns)";
  }
  function t(j) { return toks[j]; }

  canvas.addEventListener("mousemove", ev => {
    const r = canvas.getBoundingClientRect(), cell = r.width / n;
    const k = Math.floor((ev.clientX - r.left) / cell), q = Math.floor((ev.clientY - r.top) / cell);
    if (q >= 0 && q < n && k >= 0 && k < n)
      tip(ev, show(toks[q]) + " \u2192 " + show(toks[k]) + "\n" + fmt(pattern(head)[q][k]));
  });
  canvas.addEventListener("mouseleave", untip);
  drawHeads();
  update();
})();
