// The officer's lane terminal: the live passage list, one passage's view, release and hold (one
// key each; a flagged or held vehicle's release asks for a note), the device strip and the day's
// figures. Everything goes through kouanApi (api.js: the CSRF token, and /login on a 401); the
// live stream (/api/live) pushes passages and devices, and on (re)connecting the lists are
// loaded again, so nothing missed while it was away stays missing.
"use strict";

import { DeviceStrip } from "/static/devices.js";
import { loadStats, WaitingCounts } from "/static/figures.js";
import { actedText, PassageView } from "/static/passage-view.js";
import { localTime, PassageList } from "/static/passages.js";
import { UplinkLine } from "/static/uplink.js";

const api = window.kouanApi;
const $ = (id) => document.getElementById(id);
/** A flagged or held vehicle's release asks for a note; one the hub's reviewer cleared does not,
 *  unless it holds for more than the hub judged (the server says which: `release_needs_note`). */
function needsNote(s) {
  if (typeof s.release_needs_note === "boolean") return s.release_needs_note;
  return s.state === "flagged" || s.state === "held" || s.state === "reviewed";
}
const STATS_EVERY_MS = 10_000;
const narrow = window.matchMedia("(max-width: 899px)");

const view = new PassageView($("view"));
const devices = new DeviceStrip($("device-strip"), $("devices-toggle"), $("devices-summary"), api, $("rollback"));
const uplink = new UplinkLine($("uplink"), api);
const counts = new WaitingCounts(api, document.querySelectorAll("button.filter"));
const list = new PassageList($("passages"), $("older"), $("list-empty"), api, {
  onSelect: (id) => selected(id),
  onOpen: (id) => open(id),
});
const known = new Map();  // passage id -> last state seen, to announce a passage newly flagged
let shownId = null;       // the passage in the view
let detailTimer = null;
let busy = false;
let pushedView = false;

// ------------------------------------------------------------ the header

async function loadMe() {
  const me = await api.get("/api/me");
  $("user-name").textContent = me.name;
  $("user-name").title = `${me.name} (${me.role})`;
  devices.setRole(me.role);
}

async function loadLane() {
  const lane = await api.get("/api/lane");
  $("lane-name").textContent = lane.name || lane.id;
  $("lane-id").textContent = lane.name && lane.name !== lane.id ? lane.id : "";
  counts.setBase(`Kouan ${lane.name || lane.id}`);
}

$("logout").addEventListener("click", async () => {
  $("logout").disabled = true;
  leaving = true;  // no more requests: one would meet a 401 and send the page to /login a second time
  if (live) live.close();
  clearInterval(statsTimer);
  counts.stop();
  uplink.stop();
  try {
    await api.post("/api/logout", {});
  } finally {
    api.leave("/login");  // the only navigation, even if a request in flight meets the 401 first
  }
});

// ------------------------------------------------------------ the list and the view

function summaryOf(id) {
  if (view.detail && view.detail.id === id) return view.detail;
  return list.summary(id);
}

/** The selection moved (J/K, a click): on a desk the view follows it. */
function selected(id) {
  if (!narrow.matches) {
    clearTimeout(detailTimer);
    detailTimer = setTimeout(() => show(id), 120);
  }
  actionBar(id);
}

/** Open a passage: on a phone, full screen with a way back. */
function open(id) {
  clearTimeout(detailTimer);
  show(id);
  if (narrow.matches && !document.body.classList.contains("viewing")) {
    document.body.classList.add("viewing");
    behind(true);
    history.pushState({ passage: id }, "");
    pushedView = true;
    $("back").focus({ preventScroll: true });
  }
}

function close() {
  if (document.body.classList.contains("viewing")) {
    if (pushedView) {
      history.back();  // popstate closes it
      return;
    }
    leaveFullScreen();
  } else {
    shownId = null;
    view.clear("Select a passage (J/K or tap a row) to see what the lane saw.");
    $("view-title").textContent = "Passage";
    actionBar(list.selected);
  }
  focusSelectedRow();
}

function leaveFullScreen() {
  document.body.classList.remove("viewing");
  behind(false);
  pushedView = false;
  focusSelectedRow();
}

/** What the full-screen view covers on a phone takes no focus or taps meanwhile. */
function behind(inert) {
  for (const el of [document.querySelector("header.top"), $("device-area"), $("list-pane")]) el.inert = inert;
}

function focusSelectedRow() {
  const row = list.rows.get(list.selected);
  if (row) row.li.querySelector("button.row").focus({ preventScroll: false });
}

window.addEventListener("popstate", () => {
  if (document.body.classList.contains("viewing")) {
    pushedView = false;
    leaveFullScreen();
  }
});
$("back").addEventListener("click", () => close());
narrow.addEventListener("change", () => {
  if (!narrow.matches && document.body.classList.contains("viewing")) leaveFullScreen();
});

async function show(id) {
  if (id === null || id === undefined) return;
  shownId = id;
  view.loading(id);
  $("view-title").textContent = `Passage ${id}`;
  actionBar(id);
  try {
    const detail = await api.get(`/api/passages/${id}`);
    if (shownId !== id) return;  // another was selected meanwhile
    view.render(detail);
    actionBar(id);
  } catch (err) {
    if (shownId === id) view.clear(`Passage ${id} could not be loaded: ${err.message}`);
  }
}

let refreshTimer = null;
function refreshShown(id) {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(async () => {
    if (shownId !== id) return;
    try {
      const detail = await api.get(`/api/passages/${id}`);
      if (shownId === id && (!view.detail || detail.version >= view.detail.version)) {
        view.render(detail);
        actionBar(id);
      }
    } catch { /* the next update tries again */ }
  }, 150);
}

function setFilter(filter) {
  for (const b of document.querySelectorAll("button.filter")) {
    b.setAttribute("aria-pressed", String(b.dataset.filter === filter));
  }
  return list.setFilter(filter);
}
for (const b of document.querySelectorAll("button.filter")) {
  b.addEventListener("click", () => setFilter(b.dataset.filter));
}

// ------------------------------------------------------------ release and hold

function actionBar(id) {
  const s = id === null || id === undefined ? null : summaryOf(id);
  $("actions").hidden = !s;
  if (!s) return;
  $("release").disabled = busy || ["released", "open", "analysing"].includes(s.state);
  $("hold").disabled = busy || s.state === "held";
  $("release").querySelector("span").textContent = needsNote(s) ? "Release…" : "Release";
  $("release").title = needsNote(s) ? "Release this vehicle: a note is asked for (R)" : "Release (R)";
  $("hold").title = "Hold this vehicle (H)";
}

function result(text, kind) {
  const line = $("action-result");
  line.textContent = text;
  line.className = `action-result ${kind || ""}`;
}

/** R and H act on the passage on screen: the view's, else (no view: the list on a phone) the selected row.
 *  A selection the view has not followed yet (J then R within the debounce) acts on nothing. */
async function act(action) {
  const id = shownId ?? list.selected;
  if (id === null || id === undefined || busy) return;
  const followed = viewing() || list.selected === null || list.selected === shownId;
  if (shownId !== null && (!followed || !view.detail || view.detail.id !== shownId)) {
    result(`Passage ${list.selected ?? shownId} is still loading: look at it, then press ${action === "release" ? "R" : "H"}`,
           "error");
    return;
  }
  const s = summaryOf(id);
  if (action === "release" && s && needsNote(s)) {
    confirmRelease(id, s);
    return;
  }
  await send(id, action, { note: "", confirmed: false, version: s ? s.version : null });
}

async function send(id, action, body) {
  busy = true;
  actionBar(id);
  result(`${action === "release" ? "Releasing" : "Holding"} passage ${id}…`, "pending");
  try {
    const detail = await api.post(`/api/passages/${id}/${action}`, body);
    applyDetail(detail);
    result(`Passage ${id} (${detail.plate || "no plate"}): ${actedText(detail)}`, "done");
  } catch (err) {
    result(`Refused: ${err.message}`, "error");
  } finally {
    busy = false;
    actionBar(id);
  }
}

function applyDetail(detail) {
  const summary = { ...detail, reasons: Array.isArray(detail.reasons) ? detail.reasons.length : detail.reasons };
  list.upsert(summary, true);
  known.set(detail.id, detail.state);
  if (shownId === detail.id) view.render(detail);
  counts.refresh();
}

$("release").addEventListener("click", () => act("release"));
$("hold").addEventListener("click", () => act("hold"));

const confirmDialog = $("confirm");
let confirming = null;
let confirmingVersion = null;
function confirmRelease(id, s) {
  confirming = id;
  confirmingVersion = s.version;  // a verdict or reading arriving while the dialog is open refuses the release
  $("confirm-title").textContent = `Release a ${s.state} vehicle?`;
  $("confirm-what").textContent = `Passage ${id}, ${s.plate || "no plate read"}${s.reason ? `: ${s.reason}` : ""}. `
    + "A note is needed to release it.";
  $("confirm-note").value = "";
  $("confirm-error").textContent = "";
  confirmDialog.returnValue = "";  // kept from the last close otherwise
  confirmDialog.showModal();
  $("confirm-note").focus();
}
$("confirm-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const note = $("confirm-note").value.trim();
  if (!note) {
    $("confirm-error").textContent = "Write why this vehicle may go.";
    $("confirm-note").focus();
    return;
  }
  const id = confirming;
  confirming = null;
  confirmDialog.close("ok");
  send(id, "release", { note, confirmed: true, version: confirmingVersion });
});
$("confirm-cancel").addEventListener("click", () => confirmDialog.close("cancel"));
confirmDialog.addEventListener("close", () => {
  if (confirmDialog.returnValue !== "ok" && confirming !== null) result("Release cancelled.", "");
  confirming = null;
  focusSelectedRow();
});

const keysDialog = $("keys");
$("keys-button").addEventListener("click", () => keysDialog.showModal());

// ------------------------------------------------------------ keys

/** A phone's full-screen view of one passage: the list behind it is hidden, so J/K do not move it. */
function viewing() {
  return document.body.classList.contains("viewing");
}
const move = (step) => () => { if (!viewing()) list.move(step); };

function typing(target) {
  return target instanceof HTMLElement
    && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

document.addEventListener("keydown", (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) return;
  if (document.querySelector("dialog[open]")) return;  // a dialog takes its own keys (Enter, Esc)
  const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
  const onButton = e.target instanceof HTMLElement && ["BUTTON", "A"].includes(e.target.tagName);
  const actions = {
    j: move(1), ArrowDown: move(1), k: move(-1), ArrowUp: move(-1),
    Enter: () => { if (!onButton && list.selected !== null) open(list.selected); },
    Escape: () => close(),
    r: () => { if (!e.repeat) act("release"); },
    h: () => { if (!e.repeat) act("hold"); },
    "?": () => keysDialog.showModal(),
    "+": () => view.viewer.zoomBy(1.5), "=": () => view.viewer.zoomBy(1.5),
    "-": () => view.viewer.zoomBy(1 / 1.5), f: () => view.viewer.fit(),
    n: () => setFilter("needs"), a: () => setFilter("all"),
  };
  const fn = actions[key];
  if (!fn) return;
  if (key === "Enter" && onButton) return;  // the focused button (a row too) does its own click
  e.preventDefault();
  fn();
});

// ------------------------------------------------------------ live

function announce(text) {
  const region = $("announce");
  region.textContent = "";
  setTimeout(() => { region.textContent = text; }, 50);
}

function onPassage(summary) {
  const before = known.get(summary.id);
  known.set(summary.id, summary.state);
  if (known.size > 5000) known.delete(known.keys().next().value);
  list.upsert(summary, true);
  if (summary.state === "flagged" && before !== "flagged") {
    announce(`Flagged: ${summary.plate || "no plate read"}${summary.reason ? `, ${summary.reason}` : ""} (passage ${summary.id}, ${localTime(summary.arrived_at)})`);
  }
  if (summary.id === shownId && (!view.detail || summary.version > view.detail.version)) refreshShown(summary.id);
  if (summary.id === list.selected) actionBar(summary.id);
  counts.refresh();
}

async function loadAll() {
  counts.refresh(true);
  const [devs] = await Promise.all([api.get("/api/devices"), loadLane(), list.reload(), loadStats(api)]);
  devices.replaceAll(devs);
  for (const { summary } of list.rows.values()) known.set(summary.id, summary.state);
  if (shownId !== null) refreshShown(shownId);
}

function setLink(up, text) {
  const link = $("link");
  link.textContent = text;
  link.className = `link ${up ? "up" : "down"}`;
}

let everLoaded = false;
let leaving = false;
let live = null;
function follow() {
  if (leaving) return;
  const source = new EventSource("/api/live");
  live = source;
  source.onopen = () => {
    setLink(true, "live");
    loadAll().then(() => { everLoaded = true; }).catch((err) => result(`Could not load: ${err.message}`, "error"));
  };
  source.onerror = () => {
    setLink(false, "reconnecting…");
    if (source.readyState === EventSource.CLOSED) {
      // refused (a 401 after a logout or an expired session: kouanApi goes to /login), or the edge is away
      api.get("/api/me").then(() => setTimeout(follow, 2000), () => setTimeout(follow, 2000));
    }
  };
  source.addEventListener("passage", (m) => onPassage(JSON.parse(m.data)));
  source.addEventListener("device", (m) => devices.update(JSON.parse(m.data)));
  source.addEventListener("resync", () => { loadAll().catch(() => {}); });
  source.addEventListener("close", () => {
    source.close();
    setLink(false, "reconnecting…");
    api.get("/api/me").then(() => setTimeout(follow, 1000), () => setTimeout(follow, 2000));
  });
}

// Who is logged in first: without a session kouanApi goes to /login (once) and this never goes on.
let statsTimer = null;
function start() {
  loadMe().then(() => {
    follow();
    uplink.start();
    setTimeout(() => { if (!everLoaded && !leaving) loadAll().then(() => { everLoaded = true; }).catch(() => {}); }, 3000);
    statsTimer = setInterval(() => { if (!leaving) loadStats(api).catch(() => {}); }, STATS_EVERY_MS);
  }, () => {
    setLink(false, "the edge does not answer…");
    setTimeout(start, 3000);
  });
}
start();
