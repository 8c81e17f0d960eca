// A small hand-drawn SVG chart: the account's net liquidation value against its trailing-drawdown level.

const NS = "http://www.w3.org/2000/svg";
const WIDTH = 640;
const HEIGHT = 220;
const PAD = 44;

function node(tag, attrs, text) {
  const item = document.createElementNS(NS, tag);
  for (const [key, value] of Object.entries(attrs)) item.setAttribute(key, String(value));
  if (text !== undefined) item.textContent = text;
  return item;
}

export function drawChart(svg, series) {
  while (svg.firstChild) svg.firstChild.remove();
  svg.setAttribute("viewBox", `0 0 ${WIDTH} ${HEIGHT}`);
  if (series.length === 0) {
    svg.append(node("text", { x: PAD, y: HEIGHT / 2 }, "No data yet"));
    return;
  }
  const values = series.flatMap((p) => (p.level === null ? [p.netLiq] : [p.netLiq, p.level]));
  let low = Math.min(...values);
  let high = Math.max(...values);
  if (high - low < 1) { high += 50; low -= 50; }
  const t0 = series[0].t;
  const t1 = Math.max(series[series.length - 1].t, t0 + 1);
  const x = (t) => PAD + ((t - t0) / (t1 - t0)) * (WIDTH - 2 * PAD);
  const y = (v) => HEIGHT - PAD / 2 - ((v - low) / (high - low)) * (HEIGHT - PAD);
  const path = (pick) => series.filter((p) => pick(p) !== null)
    .map((p, i) => `${i ? "L" : "M"}${x(p.t).toFixed(1)},${y(pick(p)).toFixed(1)}`).join(" ");
  const last = series[series.length - 1];
  // Stretch a single sample to a flat line so it shows.
  const extended = series.length === 1 ? [...series, { ...last, t: t1 }] : series;
  const line = (pick) => extended.filter((p) => pick(p) !== null)
    .map((p, i) => `${i ? "L" : "M"}${x(p.t).toFixed(1)},${y(pick(p)).toFixed(1)}`).join(" ");
  for (const value of [low, (low + high) / 2, high]) {
    svg.append(node("line", { x1: PAD, x2: WIDTH - PAD, y1: y(value), y2: y(value), stroke: "#eee" }));
    svg.append(node("text", { x: 2, y: y(value) + 3 }, Math.round(value).toLocaleString("en-US")));
  }
  svg.append(node("path", { class: "netliq", d: series.length > 1 ? path((p) => p.netLiq) : line((p) => p.netLiq) }));
  if (series.some((p) => p.level !== null)) {
    svg.append(node("path", { class: "level", d: series.length > 1 ? path((p) => p.level) : line((p) => p.level) }));
  }
  svg.append(node("text", { x: WIDTH - PAD, y: 12, "text-anchor": "end" }, "— net liq   - - drawdown level"));
}
