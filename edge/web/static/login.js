// Lane terminal login: sends the name and password, then goes to the lane page.
// Plain fetch here, not kouanApi: that one sends a logged-out caller back to this page.
"use strict";
const form = document.getElementById("login-form");
const nameInput = document.getElementById("name");
const passwordInput = document.getElementById("password");
const message = document.getElementById("message");
const button = form.querySelector("button");

function explain(status, body) {
  if (status === 401) return "Wrong name or password.";
  if (typeof body.detail === "string") return body.detail;  // e.g. too many failed logins: wait
  if (status === 422) return "Enter your name and password.";
  return `The login failed (${status}).`;
}

fetch("/api/me").then((r) => { if (r.ok) location.replace("/"); }).catch(() => {});  // logged in already

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  message.textContent = "";
  button.disabled = true;
  try {
    const r = await fetch("/api/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name: nameInput.value.trim(), password: passwordInput.value }),
    });
    if (r.ok) { location.replace("/"); return; }
    message.textContent = explain(r.status, await r.json().catch(() => ({})));
    passwordInput.value = "";
    passwordInput.focus();
  } catch (err) {
    message.textContent = "The lane terminal does not answer; try again.";
  } finally {
    button.disabled = false;
  }
});
