// Time on the review desk: the hub's clock (deadlines and leases are the hub's epoch seconds, so
// the page corrects for its own clock's offset from each answer's `now`), countdowns and local
// times.
"use strict";

let offsetS = 0;  // hub time - page time

/** Learn the hub's clock from an answer's `now` (epoch s), else its Date header (whole seconds). */
export function syncClock(now, dateHeader) {
  const hub = typeof now === "number" ? now * 1000 : Date.parse(dateHeader || "");
  if (Number.isFinite(hub)) offsetS = (hub - Date.now()) / 1000;
}

/** Now on the hub's clock, in epoch seconds. */
export function hubNow() {
  return Date.now() / 1000 + offsetS;
}

/** Epoch seconds from a number or an ISO string (the passage document's times are ISO). */
export function epoch(t) {
  if (t === null || t === undefined || t === "") return null;
  return typeof t === "number" ? t : Date.parse(t) / 1000;
}

/** "4:05", "1:02:03", or "-0:12" once past. */
export function countdown(seconds) {
  const sign = seconds < 0 ? "-" : "";
  let s = Math.floor(Math.abs(seconds));
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  const pad = (n) => String(n).padStart(2, "0");
  return h ? `${sign}${h}:${pad(m)}:${pad(s)}` : `${sign}${m}:${pad(s)}`;
}

/** "45 s", "12 min", "3.5 h". */
export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 90) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/** A local date and time for epoch seconds or an ISO string. */
export function localTime(t) {
  const e = epoch(t);
  return e === null ? "–" : new Date(e * 1000).toLocaleString([], { dateStyle: "short", timeStyle: "medium" });
}
