// hubApi: the review hub's API for a logged-in page. It keeps the session's CSRF token (from
// GET /api/v1/me) and sends it as X-CSRF-Token on every unsafe request, goes to the login page on
// a 401, and turns an error answer (the hub's Refusal: {code, detail}) into an ApiError whose
// message is the hub's own words.
//   const me = await hubApi.me();
//   const claim = await hubApi.post("/queue/claim", {});   // null on 204
"use strict";

export const API = "/api/v1";

export class ApiError extends Error {
  constructor(status, code, detail) {
    super(detail);
    this.status = status;
    this.code = code;
  }
}

let csrf = null;
let me = null;
let leaving = false;

function leave(to) {  // one navigation away, however many requests meet the end of the session
  if (!leaving) {
    leaving = true;
    location.assign(to);
  }
  return new Promise(() => {});  // never settles: the page is leaving
}

async function send(method, path, body, extra) {
  const init = { method, headers: {}, credentials: "same-origin", ...extra };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  if (method !== "GET" && method !== "HEAD") init.headers["X-CSRF-Token"] = await token();
  const r = await fetch(API + path, init);
  if (r.status === 401) return leave("/login.html");
  return r;
}

async function result(r) {
  if (r.ok) return r.status === 204 ? null : r.json();
  const body = await r.json().catch(() => ({}));
  const detail = typeof body.detail === "string" ? body.detail : `${r.status} ${r.statusText}`;
  throw new ApiError(r.status, body.code || "", detail);
}

async function token() {
  if (csrf === null) await hubApi.me();
  return csrf;
}

export const hubApi = {
  /** Who is logged in: {name, role, csrf}; asked once per page. */
  async me() {
    if (me === null) {
      me = await result(await send("GET", "/me"));
      csrf = me.csrf;
    }
    return me;
  },
  get: async (path) => result(await send("GET", path)),
  async post(path, body) {
    let r = await send("POST", path, body);
    if (r.status === 403) {
      const body403 = await r.clone().json().catch(() => ({}));
      if (body403.code === "csrf") {  // logged in anew in another tab since: learn the new token
        csrf = null;
        me = null;
        r = await send("POST", path, body);
      }
    }
    return result(r);
  },
  /** A POST that outlives the page (leaving it releases the claim); its answer is not awaited. */
  postOnLeave(path, body) {
    if (csrf === null) return;
    fetch(API + path, { method: "POST", keepalive: true, credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf }, body: JSON.stringify(body) }).catch(() => {});
  },
  leave,
};
