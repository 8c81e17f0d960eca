// Building elements: every text from the API goes in through textContent, never as HTML.

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = String(value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node) {
  while (node.firstChild) node.firstChild.remove();
  return node;
}

export const $ = (id) => document.getElementById(id);

const money = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });

export function formatMoney(value) {
  return value === null || value === undefined || Number.isNaN(value) ? "—" : money.format(value);
}

export function signClass(value) {
  return value > 0.004 ? "num up" : value < -0.004 ? "num down" : "num";
}

export function formatTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toISOString().replace("T", " ").slice(0, 19);
}

// A short message where the user looks: the bottom-right corner, for a few seconds.
export function toast(text, failed = false) {
  const box = $("toast");
  const item = el("div", { class: failed ? "failed" : "", text });
  box.append(item);
  setTimeout(() => item.remove(), failed ? 9000 : 5000);
}
