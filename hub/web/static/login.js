// The review hub's login: POST /api/v1/login {name, password}; the hub sets the session cookie
// and answers {name, role, csrf}; then the queue. Plain fetch, not hubApi: that one sends a
// logged-out caller back here.
"use strict";

const form = document.getElementById("login-form");
const nameInput = document.getElementById("name");
const passwordInput = document.getElementById("password");
const message = document.getElementById("message");
const button = form.querySelector("button");

function explain(status, body) {
  if (status === 401) return "Wrong name or password.";
  if (typeof body.detail === "string" && status !== 422) return body.detail;  // e.g. too many failed logins: wait
  if (status === 422) return "Enter your name and password.";
  return `The login failed (${status}).`;
}

fetch("/api/v1/me", { credentials: "same-origin" })
  .then((r) => { if (r.ok) location.replace("/"); }).catch(() => {});  // logged in already

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  message.textContent = "";
  button.disabled = true;
  try {
    const r = await fetch("/api/v1/login", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name: nameInput.value.trim(), password: passwordInput.value }),
    });
    if (r.ok) {
      location.replace("/");
      return;
    }
    message.textContent = explain(r.status, await r.json().catch(() => ({})));
    passwordInput.value = "";
    passwordInput.focus();
  } catch (err) {
    message.textContent = "The review hub does not answer; try again.";
  } finally {
    button.disabled = false;
  }
});
