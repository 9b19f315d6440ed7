// The pipeline as a graph: steps in layers by their longest dependency chain, edges from each
// dependency, every node coloured by its status (data-status, for eyes and tests alike).

import { s } from "./dom.js";

const W = 150, H = 44, GX = 60, GY = 18;

export function drawGraph(steps, statusOf, onSelect) {
  const index = new Map(steps.map((step, i) => [step.key, i]));
  const depth = new Array(steps.length).fill(-1);
  const depthOf = (i, seen = new Set()) => {
    if (depth[i] >= 0) return depth[i];
    if (seen.has(i)) return 0;
    seen.add(i);
    const deps = (steps[i].depends_on || []).map((key) => index.get(key)).filter((d) => d !== undefined);
    depth[i] = deps.length ? 1 + Math.max(...deps.map((d) => depthOf(d, seen))) : 0;
    return depth[i];
  };
  steps.forEach((_, i) => depthOf(i));
  // Failure handlers (no dependencies, named by on_failure) go in a last column.
  const handlers = new Set(steps.map((step) => step.on_failure).filter(Boolean));
  const maxDepth = Math.max(0, ...depth);
  steps.forEach((step, i) => { if (handlers.has(step.key) && !(step.depends_on || []).length) depth[i] = maxDepth + 1; });
  const rows = new Map();
  const position = steps.map((_, i) => {
    const row = rows.get(depth[i]) || 0;
    rows.set(depth[i], row + 1);
    return { x: 10 + depth[i] * (W + GX), y: 10 + row * (H + GY) };
  });
  const width = 20 + (Math.max(...depth) + 1) * (W + GX);
  const height = 20 + Math.max(...rows.values()) * (H + GY);
  const svg = s("svg", {
    class: "graph", viewBox: `0 0 ${width} ${height}`, width, height, role: "img",
    "aria-label": `Pipeline graph of ${steps.length} steps`,
  });
  svg.append(s("defs", {}, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 6, markerHeight: 6, orient: "auto" },
    s("path", { d: "M0,0 L10,5 L0,10 z", class: "arrowhead" }))));
  steps.forEach((step, i) => {
    for (const key of step.depends_on || []) {
      const from = position[index.get(key)];
      if (!from) continue;
      const to = position[i];
      const x1 = from.x + W, y1 = from.y + H / 2, x2 = to.x, y2 = to.y + H / 2;
      svg.append(s("path", { class: "edge", d: `M${x1},${y1} C${x1 + GX / 2},${y1} ${x2 - GX / 2},${y2} ${x2},${y2}`, "marker-end": "url(#arrow)" }));
    }
  });
  steps.forEach((step, i) => {
    const status = statusOf(step.key) || "pending";
    const { x, y } = position[i];
    const node = s("g", {
      class: `node status-${status}`, "data-step": step.key, "data-status": status, tabindex: 0, role: "button",
      "aria-label": `${step.key}: ${status}`, transform: `translate(${x},${y})`,
      on: { click: () => onSelect(step.key), keydown: (event) => { if (event.key === "Enter" || event.key === " ") { event.preventDefault(); onSelect(step.key); } } },
    },
    s("rect", { width: W, height: H, rx: 6 }),
    s("text", { x: 10, y: 18, class: "key" }, step.key.length > 20 ? `${step.key.slice(0, 19)}…` : step.key),
    s("text", { x: 10, y: 34, class: "state" }, status));
    svg.append(node);
  });
  return svg;
}

/** Updates one node's status in place (no redraw). */
export function setNodeStatus(svg, key, status) {
  const node = svg.querySelector(`g.node[data-step="${CSS.escape(key)}"]`);
  if (!node) return;
  node.setAttribute("class", `node status-${status}`);
  node.dataset.status = status;
  node.setAttribute("aria-label", `${key}: ${status}`);
  const label = node.querySelector("text.state");
  if (label) label.textContent = status;
}
