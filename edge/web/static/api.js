// kouanApi: the lane terminal's API for a logged-in page. It learns the session's CSRF token from
// /api/me once and sends it as X-CSRF-Token on unsafe requests, and goes to /login on a 401.
//   const devices = await kouanApi.get("/api/devices");
//   await kouanApi.post("/api/logout", {});
"use strict";
window.kouanApi = (() => {
  let csrf = null;
  let leaving = false;
  function leave(to) {  // one navigation away, however many requests meet the end of the session
    if (!leaving) {
      leaving = true;
      location.assign(to);
    }
    return new Promise(() => {});  // never settles: the page is leaving
  }
  async function send(method, path, body, headers) {
    const init = { method, headers: { ...headers } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const r = await fetch(path, init);
    if (r.status === 401) return leave("/login");
    return r;
  }
  async function detail(r) {
    const body = await r.clone().json().catch(() => ({}));
    return typeof body.detail === "string" ? body.detail : `${r.status} ${r.statusText}`;
  }
  async function result(r) {
    if (!r.ok) throw new Error(await detail(r));
    return r.status === 204 ? null : r.json();
  }
  async function token() {
    if (csrf === null) csrf = (await result(await send("GET", "/api/me"))).csrf;
    return csrf;
  }
  async function post(path, body) {
    let r = await send("POST", path, body, { "X-CSRF-Token": await token() });
    if (r.status === 403 && (await detail(r)).startsWith("CSRF")) {  // logged in anew since: a new token
      csrf = null;
      r = await send("POST", path, body, { "X-CSRF-Token": await token() });
    }
    return result(r);
  }
  return { get: async (path) => result(await send("GET", path)), post, leave };
})();
