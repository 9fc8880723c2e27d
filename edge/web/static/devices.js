// The device health strip: each device's name, online or offline (in words, not colour alone),
// how long ago it was last heard (ticking), its bad frames and, for a device that learns its
// normal, the model it runs; a supervisor may roll that model back (a reason is asked for; the
// server checks the role). Updated from `device` events on the live stream. On a phone the strip
// folds into one summary line that opens it.
"use strict";

const KIND_WORDS = {
  smart_lock: "lock", empty_box: "empty box", under_vehicle: "under vehicle", iris: "iris", scanner: "scanner",
};

/** The sum of a device's counters that count bad input: names starting "bad_" or naming an error. */
export function badCount(counters) {
  let sum = 0;
  for (const [name, value] of Object.entries(counters || {})) {
    if ((name.startsWith("bad_") || name.includes("error")) && Number.isFinite(value)) sum += value;
  }
  return sum;
}

/** "12 s ago", "5 min ago", "3 h ago", "2 d ago"; "never" for null. */
export function ago(epoch, now = Date.now() / 1000) {
  if (epoch === null || epoch === undefined) return "never";
  const s = Math.max(0, Math.round(now - epoch));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** A device's own lane model in words: one short line for the strip and the details it opens to (and its hover). */
export function laneModelWords(m, now = Date.now() / 1000) {
  const line = `model: ${m.runs || "none yet"} · ${m.kept} clean passes kept · ${m.finds} finds`;
  const more = [];
  const r = m.last_refit;
  if (r) {
    const what = r.action === "adopted" ? `adopted as ${r.version}` : "refused";
    more.push(`last refit ${ago(r.at, now)}: ${what}; fitted on ${r.fitted}, it flagged ${r.clean_flagged_n} of `
      + `${r.clean_n} held-back clean passes and found ${r.canary_found_n} of ${r.canary_n} canaries`);
  } else {
    more.push("no refit yet");
  }
  const b = m.last_rollback;
  if (b) more.push(`rolled back from ${b.from} to ${b.version} ${ago(b.at, now)} by ${b.by}: ${b.reason}`);
  return { line, more };
}

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

export class DeviceStrip {
  constructor(strip, toggle, summary, api, rollbackDialog) {
    this.strip = strip;
    this.toggle = toggle;
    this.summary = summary;
    this.api = api;
    this.role = null;
    this.devices = new Map();
    this.dialog = rollbackDialog;
    this.rollingBack = null;  // {id, current}: the device whose rollback the dialog asks about
    this.openDetails = new Set();  // devices whose lane-model details are open (kept across a re-render)
    this.wireDialog();
    toggle.addEventListener("click", () => {
      const open = toggle.getAttribute("aria-expanded") !== "true";
      toggle.setAttribute("aria-expanded", String(open));
      strip.classList.toggle("open", open);
    });
    setInterval(() => this.tick(), 1000);
  }

  /** The logged-in user's role: a supervisor's strip offers the rollback. */
  setRole(role) {
    this.role = role;
    this.render();
  }

  replaceAll(list) {
    this.devices.clear();
    for (const d of list) this.devices.set(d.id, d);
    this.render();
  }

  update(d) {
    const before = this.devices.get(d.id);
    // live device events carry the device's own state; the lane model comes with the list
    if (before && before.lane_model && !d.lane_model) d = { ...d, lane_model: before.lane_model };
    this.devices.set(d.id, d);
    const known = this.strip.querySelector(`li[data-device="${CSS.escape(d.id)}"]`);
    if (known) known.replaceWith(this.item(d));
    else this.render();
    this.summarise();
  }

  render() {
    const sorted = [...this.devices.values()].sort((a, b) => a.id.localeCompare(b.id));
    this.strip.replaceChildren(...sorted.map((d) => this.item(d)));
    this.summarise();
  }

  item(d) {
    const li = el("li", `device ${d.online ? "online" : "offline"}`);
    li.dataset.device = d.id;
    const name = el("span", "device-name", d.name || d.id);
    const kind = el("span", "device-kind", KIND_WORDS[d.kind] || d.kind);
    const status = el("span", `status ${d.online ? "online" : "offline"}`);
    status.append(el("span", "status-mark", d.online ? "●" : "✕"), ` ${d.online ? "online" : "offline"}`);
    status.firstChild.setAttribute("aria-hidden", "true");
    const seen = el("span", "seen");
    seen.dataset.lastSeen = d.last_seen ?? "";
    seen.textContent = d.last_seen ? `seen ${ago(d.last_seen)}` : "never seen";
    if (d.last_seen) seen.title = new Date(d.last_seen * 1000).toLocaleString([], { hour12: false });
    const bad = badCount(d.counters);
    const frames = el("span", `bad${bad ? " some" : ""}`, `${bad} bad frame${bad === 1 ? "" : "s"}`);
    const summary = el("span", "summary", d.summary || "");
    li.append(name, kind, status, seen, frames, summary);
    const hover = [`${d.name || d.id} (${d.id}), ${d.transport} ${d.address}`];
    if (d.summary) hover.push(d.summary);
    if (d.last_error) hover.push(`last error: ${d.last_error}`);
    if (d.lane_model) {
      const words = laneModelWords(d.lane_model);
      // the details open on a tap too: a phone shows no hover
      const details = el("details", "lane-model-details");
      details.open = this.openDetails.has(d.id);
      details.addEventListener("toggle", () => {
        if (details.open) this.openDetails.add(d.id); else this.openDetails.delete(d.id);
      });
      details.append(el("summary", "lane-model", words.line), ...words.more.map((m) => el("p", "lane-model-more", m)));
      li.append(details);
      hover.push(...words.more);
      if (this.role === "supervisor" && d.lane_model.rollback_to) {
        const back = el("button", "quiet lane-rollback", `roll back to ${d.lane_model.rollback_to}`);
        back.type = "button";
        back.setAttribute("aria-haspopup", "dialog");
        back.addEventListener("click", () => this.askRollback(d.id));
        li.append(back);
      }
    }
    li.title = hover.join("\n");
    return li;
  }

  wireDialog() {
    const $ = (id) => this.dialog.querySelector(`#${id}`);
    this.dialog.querySelector("form").addEventListener("submit", async (e) => {
      e.preventDefault();
      const reason = $("rollback-reason").value.trim();
      if (!reason) {
        $("rollback-error").textContent = "Write why the model goes back.";
        $("rollback-reason").focus();
        return;
      }
      $("rollback-ok").disabled = true;
      try {
        const { id, current } = this.rollingBack;  // the version the dialog named, even if one came since
        await this.api.post(`/api/devices/${encodeURIComponent(id)}/lane-model/rollback`, { reason, current });
        this.dialog.close("ok");
        this.replaceAll(await this.api.get("/api/devices"));
      } catch (err) {
        $("rollback-error").textContent = `Not rolled back: ${err.message}`;
      } finally {
        $("rollback-ok").disabled = false;
      }
    });
    $("rollback-reason").addEventListener("input", () => { $("rollback-error").textContent = ""; });
    $("rollback-cancel").addEventListener("click", () => this.dialog.close("cancel"));
  }

  askRollback(id) {
    const d = this.devices.get(id);
    if (!d || !d.lane_model) return;
    const $ = (name) => this.dialog.querySelector(`#${name}`);
    this.rollingBack = { id, current: d.lane_model.current };
    $("rollback-title").textContent = `Roll ${d.name || d.id} back to ${d.lane_model.rollback_to}?`;
    $("rollback-what").textContent = `It runs ${d.lane_model.runs} now; from the next image it runs its lane model `
      + `${d.lane_model.rollback_to} again. The schedule may refit it later.`;
    $("rollback-reason").value = "";
    $("rollback-error").textContent = "";
    this.dialog.returnValue = "";
    this.dialog.showModal();
    $("rollback-reason").focus();
  }

  tick() {
    const now = Date.now() / 1000;
    for (const span of this.strip.querySelectorAll(".seen")) {
      const at = parseFloat(span.dataset.lastSeen);
      if (Number.isFinite(at)) span.textContent = `seen ${ago(at, now)}`;
    }
  }

  summarise() {
    const all = [...this.devices.values()];
    const offline = all.filter((d) => !d.online);
    const bad = all.reduce((n, d) => n + badCount(d.counters), 0);
    let text = `Devices: ${all.length - offline.length} of ${all.length} online`;
    if (offline.length) text += ` · offline: ${offline.map((d) => d.name || d.id).join(", ")}`;
    if (bad) text += ` · ${bad} bad frames`;
    this.summary.textContent = text;
    this.toggle.classList.toggle("trouble", offline.length > 0);
  }
}
