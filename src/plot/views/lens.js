/* The logit lens view: points (layers) x positions, the top token in each
 * cell coloured by its probability (viridis); hovering a cell shows its
 * top-k tokens; hovering an input token outlines its column. */
"use strict";
(function () {
  const toks = DATA.tokens, labels = DATA.labels, top = DATA.top;
  help("Each cell: the token the residual stream at that layer (row) and position (column) predicts next, " +
       "read through the final norm and the unembedding; colour = its probability.  Hover a cell for the top " +
       (top[0] && top[0][0] ? top[0][0].length : 0) + " tokens.");
  const table = el("table", "lens");
  table.id = "lens";
  const head = el("tr");
  head.append(el("th", "row", ""));
  const colHeads = toks.map((t, p) => {
    const th = el("th", "col", show(t));
    th.dataset.pos = p;
    th.addEventListener("mouseenter", () => column(p, true));
    th.addEventListener("mouseleave", () => column(p, false));
    head.append(th);
    return th;
  });
  table.append(head);
  const cells = [], rowHeads = [];
  labels.forEach((lab, i) => {
    const tr = el("tr");
    const th = el("th", "row", lab);
    rowHeads.push(th);
    tr.append(th);
    cells.push(toks.map((_, p) => {
      const e = top[i][p][0], c = viridis(e.prob);
      const td = el("td", "", show(e.token));
      td.style.backgroundColor = rgb(c);
      td.style.color = textOn(c);
      td.dataset.point = i; td.dataset.pos = p;
      td.addEventListener("mouseenter", () => hover(i, p, true));
      td.addEventListener("mouseleave", () => hover(i, p, false));
      tr.append(td);
      return td;
    }));
    table.append(tr);
  });
  APP.append(table);
  const detail = el("div", "detail", "hover a cell");
  detail.id = "detail";
  APP.append(detail);

  function hover(i, p, on) {
    cells[i][p].classList.toggle("hl", on);
    rowHeads[i].classList.toggle("hl", on);
    colHeads[p].classList.toggle("hl", on);
    if (!on) return;
    detail.textContent = labels[i] + " at position " + p + " (" + show(toks[p]) + "):\n" +
      top[i][p].map((e, r) => (r + 1) + ". " + JSON.stringify(e.token) + "  p=" + fmt(e.prob)).join("\n");
  }
  function column(p, on) {
    cells.forEach(row => row[p].classList.toggle("colhl", on));
    colHeads[p].classList.toggle("hl", on);
  }
})();
