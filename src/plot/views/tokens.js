/* Text coloured by a value per token: diverging (blue negative, red
 * positive, white 0) when values have both signs, else white → red.
 * Hovering a token shows its value. */
"use strict";
(function () {
  const rows = DATA.rows || [{tokens: DATA.tokens, values: DATA.values}];
  let lo = Infinity, hi = -Infinity;
  rows.forEach(r => r.values.forEach(v => { if (v !== null && isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); } }));
  if (!(lo <= hi)) { lo = 0; hi = 1; }
  const signed = lo < 0 && hi > 0, m = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
  function colour(v) {
    if (v === null || !isFinite(v)) return [221, 221, 221];
    if (signed) return diverging(v, m);
    const t = hi > lo ? (v - lo) / (hi - lo) : 1;
    return ramp([[255, 255, 255], [253, 219, 199], [244, 165, 130], [214, 96, 77], [178, 24, 43]], t);
  }
  help("Each token is coloured by " + (DATA.label || "its value") + "; hover a token for its value.");
  const legend = el("div", "legend");
  const sc = el("span", "scale");
  const stops = [0, 0.25, 0.5, 0.75, 1].map(t => rgb(colour(signed ? -m + 2 * m * t : lo + (hi - lo) * t)));
  sc.style.background = "linear-gradient(to right," + stops.join(",") + ")";
  legend.append(fmt(signed ? -m : lo) + " ", sc, " " + fmt(signed ? m : hi) + "   " + (DATA.label || ""));
  APP.append(legend);
  const detail = el("div", "detail", "hover a token");
  detail.id = "detail";
  rows.forEach((r, ri) => {
    const line = el("div", "tokens");
    r.tokens.forEach((t, i) => {
      const v = r.values[i], c = colour(v);
      const s = el("span", "tok", show(t));
      s.style.backgroundColor = rgb(c);
      s.style.color = textOn(c);
      s.dataset.row = ri; s.dataset.pos = i;
      s.addEventListener("mouseenter", ev => {
        s.classList.add("hl");
        detail.textContent = "row " + ri + ", position " + i + ": " + JSON.stringify(t) + "  " +
                             (DATA.label || "value") + " = " + fmt(v);
        tip(ev, show(t) + "\n" + fmt(v));
      });
      s.addEventListener("mouseleave", () => { s.classList.remove("hl"); untip(); });
      line.append(s);
    });
    APP.append(line);
  });
  APP.append(detail);
})();
