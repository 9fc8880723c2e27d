// Key tables: one entry per key with the action it runs and the words the help card shows, so
// the keys a page answers to and the card that lists them cannot drift apart. Keys are matched
// on KeyboardEvent.key, so Shift+G arrives as "G" and differs from "g".
"use strict";

export const VIEWER_KEYS = [
  { keys: ["a"], label: "A", action: "auto", words: "auto window (0.5 %–99.5 % of the histogram)" },
  { keys: ["1"], label: "1", action: "presetCargo", words: "cargo preset: whole range, dense areas lifted (γ 2)" },
  { keys: ["2"], label: "2", action: "presetUnder", words: "undercarriage preset: 5 %–95 %, γ 1" },
  { keys: ["i"], label: "I", action: "invert", words: "invert" },
  { keys: ["g"], label: "G", action: "gammaUp", words: "gamma up (brighter darks)" },
  { keys: ["G"], label: "Shift+G", action: "gammaDown", words: "gamma down" },
  { keys: ["c"], label: "C", action: "colormap", words: "next colour map (grey, hot, jet, cargo)" },
  { keys: ["o"], label: "O", action: "overlay", words: "the model's regions on / off" },
  { keys: ["f"], label: "F", action: "fit", words: "fit the image" },
  { keys: ["0"], label: "0", action: "oneToOne", words: "1:1 (one image pixel per screen pixel)" },
  { keys: ["+", "="], label: "+ / −", action: "zoomIn", words: "zoom in / out" },
  { keys: ["-", "_"], label: null, action: "zoomOut", words: "" },
  { keys: ["ArrowLeft"], label: "arrows", action: "panLeft", words: "pan" },
  { keys: ["ArrowRight"], label: null, action: "panRight", words: "" },
  { keys: ["ArrowUp"], label: null, action: "panUp", words: "" },
  { keys: ["ArrowDown"], label: null, action: "panDown", words: "" },
  { keys: ["w"], label: "W", action: "windowLevelMode", words: "left drag changes window/level instead of panning" },
  { keys: ["s"], label: "S", action: "sideBySide", words: "the earlier pass side by side (in step)" },
  { keys: ["p"], label: "P", action: "plane", words: "next energy plane (dual-energy scans)" },
];

export const MOUSE_HELP = [
  ["drag", "pan"],
  ["right drag", "window (left/right) and level (up/down); a full drag spans the data's range"],
  ["wheel", "zoom around the cursor"],
  ["double click", "fit"],
];

/** The entry of `table` for key event `e`, or null (modified keys other than Shift never match). */
export function matchKey(e, table) {
  if (e.ctrlKey || e.metaKey || e.altKey) return null;
  return table.find((entry) => entry.keys.includes(e.key)) || null;
}

/** Whether the key event comes from a field the reviewer types into. */
export function typing(e) {
  const t = e.target;
  return t instanceof HTMLElement && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName));
}

/** Rows [label, words] for a help card, from key tables (entries without a label are folded in). */
export function helpRows(...tables) {
  return tables.flat().filter((k) => k.label).map((k) => [k.label, k.words]);
}
