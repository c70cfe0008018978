// node --test clients/js/authFetch.test.mjs — checks the wrapper against a stubbed fetch.
import { test } from "node:test";
import assert from "node:assert/strict";

const store = new Map();
globalThis.localStorage = {
  getItem: (k) => (store.has(k) ? store.get(k) : null),
  setItem: (k, v) => store.set(k, String(v)),
  removeItem: (k) => store.delete(k),
};
globalThis.location = { assign() {} };
const { authFetch, rememberLogin } = await import("./authFetch.js");

function stubFetch(status, headers, body) {
  const calls = [];
  globalThis.fetch = async (input, init) => {
    calls.push({ input, auth: new Headers(init.headers).get("Authorization") });
    return new Response(JSON.stringify(body), { status, headers });
  };
  return calls;
}

test("sends the stored token and keeps a renewed one", async () => {
  rememberLogin({ token: { access: "old" } });
  const calls = stubFetch(200, { "X-Access-Token": "new" }, { ok: true });
  const response = await authFetch("/api/me");
  assert.equal(response.status, 200);
  assert.equal(calls[0].auth, "Bearer old");
  assert.equal(localStorage.getItem("access_token"), "new");
});

test("a 401 token_not_valid forgets the token and asks for a login", async () => {
  rememberLogin({ token: { access: "dead" } });
  stubFetch(401, {}, { code: "token_not_valid", detail: "Given token not valid for any token type" });
  let asked = null;
  await authFetch("/api/me", {}, { onLoginRequired: (body) => (asked = body.code) });
  assert.equal(asked, "token_not_valid");
  assert.equal(localStorage.getItem("access_token"), null);
});

test("a 403 keeps the token", async () => {
  rememberLogin({ token: { access: "t" } });
  stubFetch(403, {}, { code: "permission_denied" });
  let asked = false;
  await authFetch("/api/admin", {}, { onLoginRequired: () => (asked = true) });
  assert.equal(asked, false);
  assert.equal(localStorage.getItem("access_token"), "t");
});
