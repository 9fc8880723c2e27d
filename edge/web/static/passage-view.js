// One passage whole: what it is now (state, who acted), the reasons (holding ones first, in the
// officer's words), the images with their flagged regions, the declaration beside what the lane
// saw (mismatches marked), each device's reading, the hub's verdict and the timeline.
"use strict";

import { ImageViewer } from "/static/viewer.js";
import { localTime, stateMark, stateWord } from "/static/passages.js";

const IMAGE_KINDS = ["under_vehicle", "empty_box", "scanner"];

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function section(title, cls) {
  const s = el("section", `block ${cls || ""}`);
  s.append(el("h3", "", title));
  return s;
}

/** A key as the edge compares it: no spaces, upper case. */
export function norm(value) {
  return String(value || "").replace(/\s+/g, "").toUpperCase();
}

function seconds(s) {
  if (s === null || s === undefined) return "";
  return s < 10 ? `${s.toFixed(1)} s` : `${Math.round(s)} s`;
}

/** "released by test-officer at 10:42:01" and the like; "" while nobody acted. */
export function actedText(p) {
  if (!p.acted_at) return "";
  const who = p.acted_by === "machine" ? "directly after machine inspection" : `by ${p.acted_by}`;
  return `${p.state} ${who} at ${localTime(p.acted_at)}`;
}

export class PassageView {
  constructor(root) {
    this.root = root;
    this.viewer = new ImageViewer();
    this.detail = null;
    this.imageIndex = 0;
  }

  clear(text) {
    this.detail = null;
    this.root.replaceChildren(el("p", "placeholder", text));
  }

  loading(id) {
    if (this.detail && this.detail.id === id) return;
    this.root.replaceChildren(el("p", "placeholder", `Loading passage ${id}…`));
  }

  render(p) {
    const sameId = this.detail && this.detail.id === p.id;
    const scroll = this.root.scrollTop;
    if (!sameId) this.imageIndex = 0;
    this.detail = p;
    const answered = p.verdict !== null && p.verdict !== undefined;  // the hub's word first once it is there
    const parts = [this.head(p), answered ? this.verdict(p) : null, this.reasons(p), this.images(p), this.compare(p),
                   this.readings(p), answered ? null : this.verdict(p), this.timeline(p)].filter(Boolean);
    this.root.replaceChildren(...parts);
    this.root.dataset.passage = p.id;
    if (sameId) this.root.scrollTop = scroll;
    else this.root.scrollTop = 0;
  }

  head(p) {
    const head = el("div", `passage-head st-${p.state}`);
    const title = el("div", "head-line");
    const state = el("span", `state badge st-${p.state}`);
    const mark = el("span", "mark", stateMark(p.state));
    mark.setAttribute("aria-hidden", "true");
    state.append(mark, el("span", "word", stateWord(p)));
    title.append(el("span", "plate big", p.plate || "no plate read"), state);
    head.append(title);
    const facts = el("p", "head-facts");
    const bits = [`passage ${p.id}`, `arrived ${localTime(p.arrived_at, true)}`];
    if (p.decided_at) bits.push(`decided ${localTime(p.decided_at)} (${seconds(p.decided_at - p.arrived_at)})`);
    else if (p.deadline_at) bits.push(`waiting for devices until ${localTime(p.deadline_at)}`);
    if (p.containers && p.containers.length) bits.push(`containers ${p.containers.join(", ")}`);
    facts.textContent = bits.join(" · ");
    head.append(facts);
    const acted = actedText(p);
    if (acted) {
      const line = el("p", "head-acted", acted);
      if (p.note) line.append(el("span", "note", ` — “${p.note}”`));
      head.append(line);
    }
    return head;
  }

  reasons(p) {
    const s = section("Reasons", "reasons");
    const list = Array.isArray(p.reasons) ? [...p.reasons] : [];
    if (!list.length) {
      s.append(el("p", "muted", p.decided_at ? "No reason to hold." : "No reason so far."));
      return s;
    }
    list.sort((a, b) => Number(b.holds) - Number(a.holds));
    const ul = el("ul", "reason-list");
    const names = deviceNames(p);
    for (const r of list) {
      const li = el("li", r.holds ? "holds" : "informs");
      const tag = el("span", "reason-tag", r.holds ? "holds" : "informs");
      li.append(tag, el("span", "reason-words", r.words));
      const from = [];
      if (r.device_id) from.push(names.get(r.device_id) || r.device_id);
      if (r.late) from.push("after the decision");
      if (from.length) li.append(el("span", "reason-from", ` (${from.join(", ")})`));
      ul.append(li);
    }
    s.append(ul);
    return s;
  }

  images(p) {
    const found = [];
    for (const o of p.observations || []) {
      for (const image of o.images || []) {
        found.push({ image, device: o.device_name || o.device_id, kind: o.kind, at: o.at });
      }
    }
    if (!found.length) return null;
    found.sort((a, b) => (b.image.regions || []).length - (a.image.regions || []).length
      || IMAGE_KINDS.indexOf(a.kind) - IMAGE_KINDS.indexOf(b.kind));
    if (this.imageIndex >= found.length) this.imageIndex = 0;
    const s = section("Images", "images");
    if (found.length > 1) {
      const picker = el("div", "image-picker");
      picker.setAttribute("role", "group");
      picker.setAttribute("aria-label", "Image");
      found.forEach((f, i) => {
        const b = el("button", "pick", imageTitle(f));
        b.type = "button";
        b.setAttribute("aria-pressed", String(i === this.imageIndex));
        b.addEventListener("click", () => { this.imageIndex = i; this.render(this.detail); });
        picker.append(b);
      });
      s.append(picker);
    }
    const shown = found[this.imageIndex];
    this.viewer.show(shown.image, `${imageTitle(shown)}, ${localTime(shown.at)}`);
    s.append(this.viewer.root);
    return s;
  }

  compare(p) {
    const s = section("Declared and seen", "compare");
    const d = p.declaration;
    const obs = p.observations || [];
    const seen = (pick) => {
      const m = new Map();
      for (const o of obs) {
        for (const v of [].concat(pick(o) || [])) {
          if (!v) continue;
          const key = norm(v);
          if (!m.has(key)) m.set(key, new Set());
          m.get(key).add(o.device_name || o.device_id);
        }
      }
      return m;
    };
    const plates = seen((o) => o.plate);
    const cards = seen((o) => o.card_id);
    const containers = seen((o) => o.containers);
    const locks = seen((o) => o.lock_id);
    if (!d) s.append(el("p", "no-declaration", "⚠ No advance declaration for this vehicle."));
    else s.append(el("p", "muted", `Declaration ${d.id}${d.declared_at ? `, declared ${localTime(Date.parse(d.declared_at) / 1000, true)}` : ""}${d.cargo ? ` · cargo: ${d.cargo}` : ""}`));
    const table = el("table", "compare-table");
    const headRow = el("tr");
    for (const h of ["", "Declared", "Seen", ""]) headRow.append(el("th", "", h));
    headRow.lastChild.append(el("span", "sr-only", "Match"));
    const thead = el("thead");
    thead.append(headRow);
    const tbody = el("tbody");
    const row = (label, declared, seenMap, extra) => {
      const tr = el("tr");
      tr.append(el("th", "", label));
      tr.lastChild.scope = "row";
      tr.append(el("td", "declared", declared || (d ? "—" : "")));
      const seenCell = el("td", "seen");
      if (!seenMap.size) seenCell.append(el("span", "muted", "not seen"));
      for (const [value, by] of seenMap) {
        const item = el("span", "seen-item", value);
        item.append(el("span", "by", ` (${[...by].join(", ")})`));
        seenCell.append(item);
      }
      if (extra) seenCell.append(el("span", "seen-extra", extra));
      tr.append(seenCell);
      const allowed = declared ? declared.split(/\s*\/\s*/).map(norm) : [];
      let verdict = "";
      if (d && seenMap.size && declared) verdict = [...seenMap.keys()].every((v) => allowed.includes(v)) ? "match" : "mismatch";
      else if (d && seenMap.size && !declared) verdict = "mismatch";
      tr.append(markCell(verdict));
      if (verdict === "mismatch") tr.classList.add("mismatch");
      tbody.append(tr);
    };
    row("Plate", d ? [d.plate, d.trailer].filter(Boolean).join(" / ") : "", plates);
    if (d && d.trailer) tbody.lastChild.firstChild.textContent = "Plate / trailer";
    row("Driver card", d ? d.driver_card : "", cards);
    // containers: every declared one, then any seen that nobody declared
    const declared = d ? d.containers || [] : [];
    const declaredNumbers = new Set(declared.map((c) => norm(c.number)));
    for (const c of declared) {
      const number = norm(c.number);
      const at = containers.get(number);
      const tr = el("tr");
      tr.append(el("th", "", "Container"));
      tr.lastChild.scope = "row";
      const dc = el("td", "declared");
      dc.append(el("span", "container-no", c.number));
      dc.append(el("span", "sub", `lock ${c.lock_id || "none"} · ${c.declared_empty ? "declared empty" : "declared loaded"}`));
      tr.append(dc);
      const sc = el("td", "seen");
      const problems = [];
      if (at) {
        sc.append(el("span", "container-no", number));
        sc.lastChild.append(el("span", "by", ` (${[...at].join(", ")})`));
      } else {
        sc.append(el("span", "muted", "container not seen"));
      }
      const lockSeen = c.lock_id ? locks.get(norm(c.lock_id)) : null;
      if (c.lock_id) {
        sc.append(el("span", "sub", lockSeen ? `lock ${norm(c.lock_id)} read (${[...lockSeen].join(", ")})` : "declared lock not read"));
        if (!lockSeen && locks.size) problems.push("lock");  // a lock was read, not this one
      }
      const verdicts = obs.filter((o) => (o.containers || []).map(norm).includes(number) && o.facts && o.facts.verdict)
        .map((o) => o.facts.verdict);
      if (verdicts.length) {
        sc.append(el("span", "sub", `found ${verdicts.join(", ")}`));
        if (c.declared_empty && verdicts.some((v) => v !== "empty")) problems.push("empty");
      }
      tr.append(sc);
      const verdict = problems.length ? "mismatch" : at || lockSeen || verdicts.length ? "match" : "";
      tr.append(markCell(verdict));
      if (verdict === "mismatch") tr.classList.add("mismatch");
      tbody.append(tr);
    }
    for (const [number, by] of containers) {
      if (declaredNumbers.has(number)) continue;
      const m = new Map([[number, by]]);
      row("Container", "", m, d ? "not on the declaration" : "");
    }
    const declaredLocks = new Set(declared.map((c) => norm(c.lock_id)).filter(Boolean));
    for (const [lock, by] of locks) {
      if (declaredLocks.has(lock)) continue;
      row("Lock", "", new Map([[lock, by]]), d ? "not the declared lock" : "");
    }
    table.append(thead, tbody);
    s.append(table);
    return s;
  }

  readings(p) {
    const s = section("Device readings", "readings");
    const obs = [...(p.observations || [])].sort((a, b) => a.at - b.at);
    if (!obs.length) {
      s.append(el("p", "muted", "No device has reported yet."));
      return s;
    }
    const ul = el("ul", "reading-list");
    for (const o of obs) {
      const li = el("li", o.late ? "late" : "");
      const time = el("time", "at", localTime(o.at));
      time.dateTime = new Date(o.at * 1000).toISOString();
      li.append(time, el("span", "device-name", o.device_name || o.device_id), el("span", "said", o.said));
      const flags = [];
      if (o.pending) flags.push("analysing");
      if (o.late) flags.push("after the decision");
      if (flags.length) li.append(el("span", "flags", flags.join(", ")));
      ul.append(li);
    }
    s.append(ul);
    return s;
  }

  verdict(p) {
    const s = section("Hub verdict", "verdict");
    if (p.verdict === null || p.verdict === undefined) {
      s.append(el("p", "muted", "Not yet: the hub has not answered."));
      return s;
    }
    if (typeof p.verdict !== "object") {
      s.append(el("p", "", String(p.verdict)));
      return s;
    }
    const v = p.verdict;
    if (v.verdict === "clear" || v.verdict === "suspicious") {
      const clear = v.verdict === "clear";
      s.classList.add(`verdict-${v.verdict}`);
      const word = el("p", `verdict-word ${v.verdict}`);
      word.append(el("span", "verdict-mark", clear ? "✓" : "⚠"), clear ? " Clear" : " Suspicious");
      word.firstChild.setAttribute("aria-hidden", "true");
      s.append(word);
      if (v.note) s.append(el("p", "verdict-note", v.note));
      const who = `${v.stage === "recheck" ? "re-checked by supervisor" : "by reviewer"} ${v.reviewer}`;
      const at = Date.parse(v.decided_at);
      s.append(el("p", "muted verdict-by", Number.isFinite(at) ? `${who} at ${localTime(at / 1000, true)}` : who));
      let advice = "";
      if (clear && v.held_again_at) {
        advice = `Given before the vehicle was held again (${localTime(v.held_again_at, true)}) for something the hub `
          + "did not see: it clears nothing now.";
      } else if (!clear && p.state === "released") advice = "The vehicle was already released: tell the supervisor.";
      else if (!clear) advice = "Hold the vehicle for physical inspection.";
      else if (p.state === "reviewed") {
        advice = p.release_needs_note ? "Cleared by the hub, but it holds for more than the images the hub saw: a note is asked for."
          : "Cleared by the hub: it may be released without a note.";
      }
      if (advice) s.append(el("p", `verdict-advice${!clear ? " alarm" : ""}`, advice));
      return s;
    }
    const dl = el("dl", "verdict-list");
    for (const [key, value] of Object.entries(p.verdict)) {
      dl.append(el("dt", "", key.replace(/_/g, " ")));
      const shown = typeof value === "number" && key.endsWith("_at") ? localTime(value, true)
        : typeof value === "object" && value !== null ? JSON.stringify(value) : String(value);
      dl.append(el("dd", "", shown));
    }
    s.append(dl);
    return s;
  }

  timeline(p) {
    const s = section("Timeline", "timeline");
    const ol = el("ol", "timeline-list");
    for (const t of p.timeline || []) {
      const li = el("li", `tl-${String(t.what).replace(/\s+/g, "-")}`);
      const time = el("time", "at", localTime(t.at));
      time.dateTime = new Date(t.at * 1000).toISOString();
      li.append(time, el("span", "what", t.what), el("span", "detail", t.detail));
      if (t.by) li.append(el("span", "by", t.by));
      ol.append(li);
    }
    s.append(ol);
    return s;
  }
}

function imageTitle(f) {
  const n = (f.image.regions || []).length;
  return `${f.image.label || "image"} · ${f.device}${n ? ` · ${n} region${n === 1 ? "" : "s"} flagged` : ""}`;
}

function markCell(verdict) {
  const td = el("td", `mark ${verdict}`);
  if (verdict === "match") td.append(el("span", "", "✓ match"));
  if (verdict === "mismatch") td.append(el("span", "", "✕ mismatch"));
  return td;
}

function deviceNames(p) {
  const m = new Map();
  for (const o of p.observations || []) m.set(o.device_id, o.device_name || o.device_id);
  return m;
}
