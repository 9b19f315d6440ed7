// Markdown a model wrote, rendered inert: the renderer builds DOM nodes itself (headings,
// paragraphs, lists, quotes, code, emphasis, links) and puts every piece of text in through
// textContent. Raw HTML in the source stays text; a link is kept only when it is http(s),
// mailto or relative — `javascript:` and the like become plain text.

import { h } from "./dom.js";

export function renderMarkdown(source) {
  const root = h("div", { class: "markdown" });
  const lines = String(source).replace(/\r\n?/g, "\n").split("\n");
  let index = 0;
  while (index < lines.length) {
    const line = lines[index];
    const fence = line.match(/^\s*(```|~~~)\s*([\w+-]*)/);
    if (fence) {
      const body = [];
      index += 1;
      while (index < lines.length && !lines[index].trim().startsWith(fence[1])) body.push(lines[index++]);
      index += 1;
      root.append(h("pre", {}, h("code", { "data-lang": fence[2] || null }, body.join("\n"))));
      continue;
    }
    const heading = line.match(/^(#{1,6})\s+(.*)$/);
    if (heading) {
      root.append(h(`h${Math.min(heading[1].length + 1, 6)}`, {}, inline(heading[2].replace(/\s#+\s*$/, ""))));
      index += 1;
      continue;
    }
    if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) {
      root.append(h("hr"));
      index += 1;
      continue;
    }
    if (/^\s*>/.test(line)) {
      const quoted = [];
      while (index < lines.length && /^\s*>/.test(lines[index])) quoted.push(lines[index++].replace(/^\s*>\s?/, ""));
      root.append(h("blockquote", {}, renderMarkdown(quoted.join("\n"))));
      continue;
    }
    const item = line.match(/^\s*([-*+]|\d+[.)])\s+(.*)$/);
    if (item) {
      const ordered = /\d/.test(item[1]);
      const list = h(ordered ? "ol" : "ul");
      while (index < lines.length) {
        const next = lines[index].match(/^\s*([-*+]|\d+[.)])\s+(.*)$/);
        if (!next || /\d/.test(next[1]) !== ordered) break;
        list.append(h("li", {}, inline(next[2])));
        index += 1;
      }
      root.append(list);
      continue;
    }
    if (line.includes("|") && index + 1 < lines.length && /^\s*\|?\s*:?-{3,}/.test(lines[index + 1])) {
      const cells = (row) => row.trim().replace(/^\||\|$/g, "").split("|").map((cell) => cell.trim());
      const table = h("table", {}, h("thead", {}, h("tr", {}, cells(line).map((cell) => h("th", {}, inline(cell))))));
      const body = h("tbody");
      index += 2;
      while (index < lines.length && lines[index].includes("|")) {
        body.append(h("tr", {}, cells(lines[index++]).map((cell) => h("td", {}, inline(cell)))));
      }
      table.append(body);
      root.append(table);
      continue;
    }
    if (!line.trim()) {
      index += 1;
      continue;
    }
    const paragraph = [];
    while (index < lines.length && lines[index].trim() && !/^(#{1,6}\s|\s*```|\s*~~~|\s*>|\s*([-*+]|\d+[.)])\s)/.test(lines[index])) {
      paragraph.push(lines[index++]);
    }
    if (!paragraph.length) paragraph.push(lines[index++]);
    root.append(h("p", {}, inline(paragraph.join(" "))));
  }
  return root;
}

const INLINE = /(`+)([^`]+?)\1|\*\*([^*]+)\*\*|__([^_]+)__|\*([^*\s][^*]*)\*|_([^_\s][^_]*)_|\[([^\]]*)\]\(([^)\s]*)(?:\s+"[^"]*")?\)|<(https?:\/\/[^>\s]+)>/g;

/** Inline Markdown as nodes; anything else stays text. */
function inline(text) {
  const nodes = [];
  let last = 0;
  for (const match of text.matchAll(INLINE)) {
    if (match.index > last) nodes.push(text.slice(last, match.index));
    if (match[2] !== undefined) nodes.push(h("code", {}, match[2]));
    else if (match[3] !== undefined || match[4] !== undefined) nodes.push(h("strong", {}, inline(match[3] ?? match[4])));
    else if (match[5] !== undefined || match[6] !== undefined) nodes.push(h("em", {}, inline(match[5] ?? match[6])));
    else if (match[7] !== undefined) nodes.push(link(match[7], match[8]));
    else if (match[9] !== undefined) nodes.push(link(match[9], match[9]));
    last = match.index + match[0].length;
  }
  if (last < text.length) nodes.push(text.slice(last));
  return nodes;
}

function link(label, target) {
  let safe = null;
  try {
    const url = new URL(target, location.href);
    if (["http:", "https:", "mailto:"].includes(url.protocol)) safe = url.href;
  } catch { /* not a URL */ }
  if (!safe) return h("span", { class: "inert-link", title: "link removed: not http(s)" }, label);
  return h("a", { href: safe, rel: "noopener noreferrer nofollow", target: "_blank" }, label || safe);
}
