// Lane terminal: loads devices and events, then follows the edge's live stream.
"use strict";
const devicesBody = document.querySelector("#devices tbody");
const eventsBody = document.querySelector("#events tbody");
const link = document.getElementById("link");
const devices = new Map();
const MAX_EVENTS = 200;

function fmtTime(epoch) {
  if (epoch === null || epoch === undefined) return "never";
  return new Date(epoch * 1000).toLocaleTimeString([], { hour12: false });
}
function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  if (cls) td.className = cls;
  return td;
}
function latestCell(d) {
  // the kind's one-line summary, and the latest image it names, whatever the kind
  const td = clamped(d.summary || "", "summary");
  const sha = (d.state || {}).image_sha256;
  if (sha && /^[0-9a-f]{64}$/.test(sha)) {
    const a = document.createElement("a");
    a.href = `/api/media/${sha}/preview?max_px=2048`;
    a.target = "_blank";
    const img = document.createElement("img");
    img.src = `/api/media/${sha}/preview?max_px=240`;
    img.alt = `latest image of ${d.id}`;
    img.className = "thumb";
    img.loading = "lazy";
    a.append(img);
    td.append(document.createElement("br"), a);
  }
  return td;
}
function renderDevices() {
  devicesBody.replaceChildren();
  for (const d of [...devices.values()].sort((a, b) => a.id.localeCompare(b.id))) {
    const tr = document.createElement("tr");
    tr.dataset.device = d.id;
    tr.append(
      cell(d.name ? `${d.name} (${d.id})` : d.id), cell(d.kind), cell(`${d.transport} ${d.address}`),
      cell(d.online ? "online" : "offline", `status ${d.online ? "online" : "offline"}`),
      cell(fmtTime(d.last_seen)),
      latestCell(d),
    );
    if (!d.online && d.last_error) tr.title = d.last_error;
    devicesBody.append(tr);
  }
}
function eventRow(e, fresh) {
  const tr = document.createElement("tr");
  tr.className = `ev-${e.event}` + (fresh ? " fresh" : "");
  tr.dataset.eventId = e.id;
  tr.append(cell(fmtTime(e.received_at)), cell(e.device_id), cell(e.subject), cell(e.event, "event"),
            clamped(e.detail, "detail"), deviceTime(e.device_time));
  return tr;
}
function clamped(text, cls) {
  // a long reason shows its first two lines; all of it on hover
  const td = cell("", cls);
  const div = document.createElement("div");
  div.className = "clamp";
  div.textContent = text || "";
  td.title = text || "";
  td.append(div);
  return td;
}
function deviceTime(iso) {
  // the device's own clock, shown in the terminal's time zone like the arrival time; the raw value on hover
  const td = cell("", "muted");
  if (!iso) return td;
  const at = new Date(iso);
  td.textContent = Number.isNaN(at.getTime()) ? iso : at.toLocaleTimeString([], { hour12: false });
  td.title = iso;
  return td;
}
const toLoginOn401 = (r) => { if (r.status === 401) location.assign("/login"); return r; };
async function loadAll() {
  const [lane, devs, evs] = await Promise.all(
    ["/api/lane", "/api/devices", "/api/events?limit=100"].map((u) => fetch(u).then(toLoginOn401).then((r) => r.json())));
  document.getElementById("lane-name").textContent = lane.name || lane.id;
  document.getElementById("lane-id").textContent = lane.id;
  document.title = `Kouan ${lane.name || lane.id}`;
  devices.clear();
  for (const d of devs) devices.set(d.id, d);
  renderDevices();
  eventsBody.replaceChildren(...evs.map((e) => eventRow(e, false)));
}
function follow() {
  const source = new EventSource("/api/live");
  source.onopen = () => { link.textContent = "live"; link.className = "link up"; loadAll(); };
  source.onerror = () => { link.textContent = "reconnecting…"; link.className = "link down"; if (source.readyState === EventSource.CLOSED) fetch("/api/me").then(toLoginOn401); };
  source.addEventListener("device", (m) => { const d = JSON.parse(m.data); devices.set(d.id, d); renderDevices(); });
  source.addEventListener("event", (m) => {
    const e = JSON.parse(m.data);
    const known = eventsBody.querySelector(`tr[data-event-id="${e.id}"]`);
    if (known) { known.replaceWith(eventRow(e, true)); return; }  // re-sent: an earlier report moved its time
    eventsBody.prepend(eventRow(e, true));
    while (eventsBody.children.length > MAX_EVENTS) eventsBody.lastChild.remove();
  });
  source.addEventListener("resync", () => loadAll());
}
loadAll().catch(() => {});
follow();
