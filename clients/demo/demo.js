// The demo page: log in, call the API through the gateway with authFetch, and watch each request, the token it
// carried and the renewals the gateway made. Served by scripts/demo_upstream.py under /demo/ (a public route).
import { authFetch, rememberLogin } from "./js/authFetch.js";

const storageKey = "access_token";
const header = "X-Access-Token";
const $ = (id) => document.getElementById(id);

const options = {
  storageKey,
  header,
  onLoginRequired(body) {
    const reason = body.messages?.[0]?.message ?? body.detail;
    addRow({ kind: "login-required", request: "onLoginRequired", what: `log in again: ${body.code} (${reason})` });
  },
};

/// A JWT's claims, read without verifying (the page only shows them; the gateway is the one that checks).
function claimsOf(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part + "=".repeat((4 - (part.length % 4)) % 4)));
  } catch {
    return null;
  }
}

const shortID = (claims) => (claims?.jti ?? "?").slice(0, 8);
const seconds = (value) => `${Math.abs(value).toFixed(1)} s`;

function lifetimeText(token, at) {
  const claims = claimsOf(token);
  if (!claims) return "none";
  const left = claims.exp - at / 1000;
  return `jti ${shortID(claims)} · ${left >= 0 ? `${seconds(left)} left` : `expired ${seconds(left)} ago`}`;
}

function clock(at) {
  const time = new Date(at);
  return time.toLocaleTimeString("en-GB", { hour12: false }) + "." + String(time.getMilliseconds()).padStart(3, "0");
}

/// Adds a timeline row; returns a function that fills in its status and outcome later.
function addRow({ kind, request, status = "…", sent = "", what = "", at = Date.now() }) {
  $("timeline-empty").hidden = true;
  const row = document.createElement("tr");
  row.className = kind;
  row.dataset.kind = kind;
  const cells = [clock(at), request, status, sent, what].map((text) => {
    const cell = document.createElement("td");
    cell.textContent = text;
    row.append(cell);
    return cell;
  });
  $("timeline").prepend(row);
  return (status, what, renewed) => {
    row.dataset.status = status;
    cells[2].textContent = status;
    cells[2].className = `status-${String(status)[0]}`;
    cells[4].textContent = what;
    if (renewed) {
      row.className = row.dataset.kind = "renewal";
    }
  };
}

/// One API call through authFetch, shown as it goes.
async function call(method, path) {
  const token = localStorage.getItem(storageKey);
  const at = Date.now();
  const finish = addRow({ kind: "request", request: `${method} ${path}`, sent: token ? lifetimeText(token, at) : "none", at });
  try {
    const response = await authFetch(path, { method }, options);
    const renewed = response.headers.get(header);
    let what = "";
    if (renewed) {
      const claims = claimsOf(renewed);
      what = `renewed → new token jti ${shortID(claims)}, ${seconds(claims.exp - claims.iat)}`;
    } else if (response.ok) {
      what = "token valid";
    } else {
      const body = await response.json().catch(() => ({}));
      what = body.messages?.[0]?.message ?? body.detail ?? response.statusText;
    }
    finish(response.status, what, Boolean(renewed));
  } catch (error) {
    finish("error", String(error));
  }
}

async function logIn(event) {
  event.preventDefault();
  $("login-error").textContent = "";
  const finish = addRow({ kind: "login", request: "POST /auth/login" });
  const response = await fetch("/auth/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: $("username").value, password: $("password").value }),
  });
  const body = await response.json().catch(() => ({}));
  if (response.status !== 201) {
    finish(response.status, body.detail ?? "login failed");
    $("login-error").textContent = body.detail ?? "login failed";
    return;
  }
  rememberLogin(body, options);
  const claims = claimsOf(body.token.access);
  finish(response.status, `logged in as ${body.user.username} → token jti ${shortID(claims)}, ${seconds(claims.exp - claims.iat)}`);
  refresh();
}

async function logOut() {
  const finish = addRow({ kind: "logout", request: "POST /auth/logout" });
  const response = await authFetch("/auth/logout", { method: "POST" }, options);
  localStorage.removeItem(storageKey);
  finish(response.status, "session ended; token forgotten");
  refresh();
}

/// Ends the session on the server behind this page's back, as a logout on another device would.
async function revokeElsewhere() {
  const token = localStorage.getItem(storageKey);
  const finish = addRow({ kind: "logout", request: "POST /auth/logout (elsewhere)" });
  const response = await fetch("/auth/logout", { method: "POST", headers: { Authorization: `Bearer ${token}` } });
  finish(response.status, "session revoked; this page still holds its token");
}

/// The side panel, from the stored token (another tab's login or renewal shows up here too).
function refresh() {
  const token = localStorage.getItem(storageKey);
  const claims = token && claimsOf(token);
  $("login-panel").hidden = Boolean(claims);
  $("session-panel").hidden = !claims;
  if (!claims) return;
  const left = claims.exp - Date.now() / 1000;
  const lifetime = claims.exp - claims.iat;
  $("who").textContent = `user ${claims.user_id}${claims.role ? ` (${claims.role})` : ""} · session ${String(claims.sid).slice(0, 8)}`;
  $("lifetime").textContent = left >= 0 ? seconds(left) : `expired ${seconds(left)} ago`;
  $("ttl").textContent = left >= 0 ? `of ${seconds(lifetime)}` : "· the next call renews it";
  $("meter").classList.toggle("expired", left < 0);
  $("meter").firstElementChild.style.width = `${Math.max(0, Math.min(100, (100 * left) / lifetime))}%`;
  $("jti").textContent = claims.jti;
}

$("login-form").addEventListener("submit", logIn);
$("call-me").addEventListener("click", () => call("GET", "/api/me"));
$("call-orders").addEventListener("click", () => call("GET", "/api/orders"));
$("call-parallel").addEventListener("click", () => {
  for (let i = 0; i < 10; i++) call("GET", "/api/me");
});
$("logout").addEventListener("click", logOut);
$("revoke").addEventListener("click", revokeElsewhere);
setInterval(refresh, 200);
refresh();
