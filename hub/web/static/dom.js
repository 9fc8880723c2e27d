// Small DOM helpers shared by the pages: build an element with a class and text.
"use strict";

export function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

export const $ = (id) => document.getElementById(id);

/** "ABC123 · MSCU1234565, TGHU7654321" from a queue item or a passage. */
export function vehicleText(x) {
  const parts = [];
  if (x.plate) parts.push(x.plate);
  if (x.containers && x.containers.length) parts.push(x.containers.join(", "));
  return parts.join(" · ") || "(no plate or container read)";
}

export function scoreText(score) {
  return score === null || score === undefined ? "–" : Number(score).toFixed(2);
}
