// The reviewer's desk page: who is logged in, the views (#/queue, #/review/{id},
// #/rechecks, #/recheck/{id}), the keys, the help card and the suspicious note. Leaving an item
// (another view, the browser's back, closing the page) gives its claim back.
"use strict";

import { hubApi } from "./api.js";
import { $, el } from "./dom.js";
import { RecheckList } from "./rechecks.js";
import { QueueView } from "./queue.js";
import { Review } from "./review.js";
import { helpRows, MOUSE_HELP, typing, VIEWER_KEYS } from "./viewer/keys.js";
import { Viewer } from "./viewer/viewer.js";

const REVIEW_KEYS = [
  { keys: ["C"], label: "Shift+C", action: "clear", words: "verdict: clear" },
  { keys: ["S"], label: "Shift+S", action: "suspicious", words: "verdict: suspicious (asks for the note; Ctrl+Enter sends)" },
  { keys: ["["], label: "[ / ]", action: "previousImage", words: "previous / next image of the passage" },
  { keys: ["]"], label: null, action: "nextImage", words: "" },
  { keys: ["Escape"], label: "Esc", action: "back", words: "back to the queue (gives the item back)" },
];
const QUEUE_KEYS = [
  { keys: ["n", "N"], label: "N", action: "next", words: "claim the next item (in the queue, after a verdict)" },
  { keys: ["?"], label: "?", action: "help", words: "this card" },
];

const me = await hubApi.me();
const params = new URLSearchParams(location.search);
const viewer = new Viewer($("viewer"), { renderer: params.get("renderer") || "auto" });
const queue = new QueueView(hubApi, { rows: $("queue-rows"), empty: $("queue-empty"), depth: $("queue-depth") }, me);
const rechecks = new RecheckList(hubApi, { rows: $("recheck-rows"), empty: $("rechecks-empty") },
  (id) => { location.hash = `#/recheck/${id}`; });
const review = new Review(hubApi, viewer, me, (message, kind) => {
  notify(message, kind);
  location.hash = review.mode === "recheck" || location.hash.startsWith("#/recheck") ? "#/rechecks" : "#/queue";
});
let pendingClaim = null;  // the claim just made, for the #/review/{id} it navigates to

$("user-name").textContent = me.name;
$("user-role").textContent = me.role;
$("nav-rechecks").hidden = me.role !== "supervisor";
document.body.dataset.role = me.role;

function notify(message, kind) {
  const n = $("notice");
  n.textContent = message;
  n.className = `notice ${kind || ""}`;
}

function showView(id) {
  for (const v of document.querySelectorAll(".view")) v.hidden = v.id !== id;
  for (const [nav, view] of [["nav-queue", "queue-view"], ["nav-rechecks", "rechecks-view"]]) {
    $(nav).classList.toggle("current", view === id);
  }
}

async function route() {
  const [, view, idText] = (location.hash || "#/queue").split("/");
  const id = Number(idText);
  if (me.role === "admin") {
    showView("admin-view");
    return;
  }
  if (review.open && !((view === "review" || view === "recheck") && id === review.id)) await review.leave();
  if (view === "review" && id) {
    if (review.open && review.id === id) return;
    if (!pendingClaim || pendingClaim.item_id !== id) {
      notify(`Item ${id} is not claimed from this page: claim it with Next.`, "bad");
      location.hash = "#/queue";
      return;
    }
    const claim = pendingClaim;
    pendingClaim = null;
    queue.stop();
    showView("review-view");
    review.show(id, "review", claim);
  } else if (view === "recheck" && id && me.role === "supervisor") {
    if (review.open && review.id === id) return;
    queue.stop();
    showView("review-view");
    review.show(id, "recheck", null);
  } else if (view === "rechecks" && me.role === "supervisor") {
    queue.stop();
    showView("rechecks-view");
    rechecks.refresh();
  } else {
    if (location.hash !== "#/queue") history.replaceState(null, "", "#/queue");
    showView("queue-view");
    queue.start();
  }
}

async function claimNext() {
  if (review.open) {
    notify("Give this item a verdict first (Shift+C or Shift+S), or Esc to give it back.", "");
    return;
  }
  try {
    const claim = await queue.claimNext();
    if (!claim) {
      notify("Nothing waits for review.", "");
      return;
    }
    notify("", "");
    pendingClaim = claim;
    location.hash = `#/review/${claim.item_id}`;
  } catch (err) {
    notify(`No item could be claimed: ${err.message}`, "bad");
  }
}

// ------------------------------------------------------------ the suspicious note

const noteDialog = $("note-dialog");
function askNote() {
  if (!review.open) return;
  $("note").value = "";
  noteDialog.showModal();
  $("note").focus();
}
function sendNote() {
  const note = $("note").value.trim();
  if (!note) {
    $("note").focus();
    $("note").setCustomValidity("A suspicious verdict needs a note: what and where.");
    $("note").reportValidity();
    return;
  }
  noteDialog.close();
  review.decide("suspicious", note);
}
$("note").addEventListener("input", () => $("note").setCustomValidity(""));
$("note-form").addEventListener("submit", (e) => { e.preventDefault(); sendNote(); });
$("note").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); sendNote(); }
});
$("note-cancel").addEventListener("click", () => noteDialog.close());

// ------------------------------------------------------------ help, buttons, keys

function buildHelp() {
  const table = (title, rows) => {
    const t = el("table", "keys");
    t.append(el("caption", "", title));
    for (const [k, w] of rows) {
      const tr = el("tr");
      tr.append(el("th", "", k), el("td", "", w));
      t.append(tr);
    }
    return t;
  };
  $("help-body").replaceChildren(table("Image", helpRows(VIEWER_KEYS)), table("Mouse", MOUSE_HELP),
    table("Verdict", helpRows(REVIEW_KEYS)), table("Queue", helpRows(QUEUE_KEYS)));
}
buildHelp();
const help = $("help");
const toggleHelp = () => (help.open ? help.close() : help.showModal());

const reviewActions = {
  clear: () => review.decide("clear", ""),
  suspicious: askNote,
  previousImage: () => review.nextImage(-1),
  nextImage: () => review.nextImage(1),
  back: () => { location.hash = review.mode === "recheck" ? "#/rechecks" : "#/queue"; },
};

$("clear").addEventListener("click", reviewActions.clear);
$("suspicious").addEventListener("click", reviewActions.suspicious);
$("back").addEventListener("click", reviewActions.back);
$("next").addEventListener("click", claimNext);
$("help-button").addEventListener("click", toggleHelp);
$("logout").addEventListener("click", async () => {
  await review.leave();
  await hubApi.post("/logout", {}).catch(() => {});
  location.assign("/login.html");
});

document.addEventListener("keydown", (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  if (noteDialog.open || typing(e)) return;
  if (e.key === "?") {
    e.preventDefault();
    toggleHelp();
    return;
  }
  if (help.open) return;  // Esc closes it (the dialog's own)
  if (review.open) {
    if (viewer.handleKey(e)) return;
    const entry = REVIEW_KEYS.find((k) => k.keys.includes(e.key));
    if (entry) {
      e.preventDefault();
      reviewActions[entry.action]();
      return;
    }
  }
  if (e.key === "n" || e.key === "N") {
    e.preventDefault();
    claimNext();
  }
});

window.addEventListener("hashchange", route);
window.addEventListener("pagehide", () => review.leaveOnUnload());
route();
