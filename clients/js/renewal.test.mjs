// node --test clients/js/ — both clients against the same stubbed answers: fetch through a stubbed global
// fetch, axios (Debian's node-axios, the browser build; skipped when absent) through a stub adapter.
import { test } from "node:test";
import assert from "node:assert/strict";

// Before the modules load: the storage event target (a browser's window) and the default storage.
const windowEvents = new EventTarget();
globalThis.addEventListener = windowEvents.addEventListener.bind(windowEvents);
globalThis.location = { assign() {} };

class MemoryStorage {
  #items = new Map();
  getItem(key) { return this.#items.has(key) ? this.#items.get(key) : null; }
  setItem(key, value) { this.#items.set(key, String(value)); }
  removeItem(key) { this.#items.delete(key); }
}
globalThis.localStorage = new MemoryStorage();

const { authFetch, rememberLogin } = await import("./authFetch.js");
const { installRenewal } = await import("./axiosRenewal.js");

const AXIOS_DIST = "/usr/share/nodejs/axios/dist/esm/axios.js";
let axios = null;
try {
  globalThis.self ??= globalThis; // the browser build looks for FormData on `self`
  axios = (await import(AXIOS_DIST)).default;
} catch {
  // node-axios not installed: the axios half is skipped.
}

// An answer the stub server gives: status, headers, JSON body; `gate` (a promise) holds it back.
const answer = (status, body = {}, headers = {}, gate = null) => ({ status, body, headers, gate });
const expired401 = { code: "token_not_valid", detail: "Given token not valid for any token type" };
const missing401 = { code: "not_authenticated", detail: "Authentication credentials were not provided." };

function deferred() {
  let resolve;
  const promise = new Promise((r) => (resolve = r));
  return { promise, resolve };
}

// Each client as a function (url, options, server) -> {status}, where `server(request)` answers and records.
const clients = {
  fetch: {
    request(url, options, server) {
      globalThis.fetch = async (input, init) => {
        const reply = await server({ url: String(input), authorization: new Headers(init.headers).get("Authorization") });
        return new Response(JSON.stringify(reply.body), { status: reply.status, headers: reply.headers });
      };
      return authFetch(url, {}, options).then((response) => ({ status: response.status }));
    },
  },
  axios: axios && {
    request(url, options, server) {
      const instance = axios.create({
        adapter: async (config) => {
          const reply = await server({ url: config.url, authorization: config.headers.get("Authorization") ?? null });
          const response = { data: JSON.stringify(reply.body), status: reply.status, statusText: "", headers: reply.headers, config, request: {} };
          if (reply.status >= 200 && reply.status < 300) return response;
          throw new axios.AxiosError("status " + reply.status, "ERR_BAD_RESPONSE", config, {}, response);
        },
      });
      installRenewal(instance, options);
      return instance.get(url).then(
        (response) => ({ status: response.status }),
        (error) => ({ status: error.response.status }),
      );
    },
  },
};

// A stub server that answers with `reply` and records requests; `arrived` resolves with the first one (axios
// runs its request interceptors a tick later, so a test that changes the storage "during" a request waits for it).
function serverAnswering(reply) {
  const requests = [];
  const first = deferred();
  const server = async (request) => {
    requests.push(request);
    first.resolve(request);
    if (reply.gate) await reply.gate;
    return reply;
  };
  return { server, requests, arrived: first.promise };
}

// Fresh storage per test: the login-required latch is per storage and key.
function setUp() {
  const storage = new MemoryStorage();
  const prompts = [];
  return { storage, prompts, options: { storage, onLoginRequired: (body) => prompts.push(body.code) } };
}

for (const [name, client] of Object.entries(clients)) {
  const skip = client ? false : `needs node-axios (${AXIOS_DIST})`;

  test(`${name}: sends the stored token and keeps a renewed one`, { skip }, async () => {
    const { storage, options } = setUp();
    storage.setItem("access_token", "old");
    const { server, requests } = serverAnswering(answer(200, { ok: true }, { "X-Access-Token": "new" }));
    assert.equal((await client.request("/api/me", options, server)).status, 200);
    assert.equal(requests[0].authorization, "Bearer old");
    assert.equal(storage.getItem("access_token"), "new");
  });

  test(`${name}: keeps a renewed token whatever the status`, { skip }, async () => {
    const { storage, prompts, options } = setUp();
    storage.setItem("access_token", "old");
    const { server } = serverAnswering(answer(403, { code: "permission_denied" }, { "X-Access-Token": "new" }));
    assert.equal((await client.request("/api/admin/", options, server)).status, 403);
    assert.equal(storage.getItem("access_token"), "new");
    assert.deepEqual(prompts, []);
  });

  test(`${name}: sends no Authorization without a token`, { skip }, async () => {
    const { options } = setUp();
    const { server, requests } = serverAnswering(answer(200));
    await client.request("/public/x", options, server);
    assert.equal(requests[0].authorization, null);
  });

  for (const body of [expired401, missing401]) {
    test(`${name}: a 401 ${body.code} forgets the token and asks for a login, without retrying`, { skip }, async () => {
      const { storage, prompts, options } = setUp();
      storage.setItem("access_token", "dead");
      const { server, requests } = serverAnswering(answer(401, body));
      assert.equal((await client.request("/api/me", options, server)).status, 401);
      assert.deepEqual(prompts, [body.code]);
      assert.equal(storage.getItem("access_token"), null);
      assert.equal(requests.length, 1);
    });
  }

  test(`${name}: a 403, or a 401 of another kind, keeps the token`, { skip }, async () => {
    const { storage, prompts, options } = setUp();
    storage.setItem("access_token", "t");
    await client.request("/api/admin/", options, serverAnswering(answer(403, { code: "permission_denied" })).server);
    await client.request("/api/other/", options, serverAnswering(answer(401, { code: "upstream_says_no" })).server);
    assert.deepEqual(prompts, []);
    assert.equal(storage.getItem("access_token"), "t");
  });

  test(`${name}: many requests failing together ask once; a new login arms it again`, { skip }, async () => {
    const { storage, prompts, options } = setUp();
    storage.setItem("access_token", "revoked");
    const { server, requests } = serverAnswering(answer(401, expired401));
    const statuses = await Promise.all(Array.from({ length: 20 }, () => client.request("/api/me", options, server)));
    assert.ok(statuses.every((s) => s.status === 401));
    assert.equal(requests.length, 20);
    assert.deepEqual(prompts, ["token_not_valid"]);
    // Calls made before the user logs in again (no token now) do not ask again.
    await client.request("/api/me", options, serverAnswering(answer(401, missing401)).server);
    assert.deepEqual(prompts, ["token_not_valid"]);
    // The user logs in; later that session ends too: a new prompt.
    rememberLogin({ token: { access: "second" } }, options);
    await client.request("/api/me", options, server);
    assert.deepEqual(prompts, ["token_not_valid", "token_not_valid"]);
  });

  test(`${name}: a token the application stores itself also arms the prompt again`, { skip }, async () => {
    const { storage, prompts, options } = setUp();
    const { server } = serverAnswering(answer(401, expired401));
    storage.setItem("access_token", "first");
    await client.request("/api/me", options, server);
    storage.setItem("access_token", "second");
    await client.request("/api/me", options, server);
    assert.deepEqual(prompts, ["token_not_valid", "token_not_valid"]);
  });

  test(`${name}: another tab's login (storage event) arms the prompt again`, { skip }, async () => {
    const { storage, prompts, options } = setUp();
    storage.setItem("access_token", "first");
    const gate = deferred();
    const late = serverAnswering(answer(401, expired401, {}, gate.promise));
    const pending = client.request("/api/slow", options, late.server);
    await late.arrived;
    await client.request("/api/me", options, serverAnswering(answer(401, expired401)).server);
    assert.deepEqual(prompts, ["token_not_valid"]);
    // Another tab logs in and out again (this tab's storage is empty once more); this tab hears of it.
    windowEvents.dispatchEvent(Object.assign(new Event("storage"), { storageArea: storage, key: "access_token", newValue: "other-tab" }));
    // A failure after that is a new one.
    gate.resolve();
    await pending;
    assert.deepEqual(prompts, ["token_not_valid", "token_not_valid"]);
  });

  test(`${name}: an answer about an older token changes nothing`, { skip }, async () => {
    const { storage, prompts, options } = setUp();
    storage.setItem("access_token", "old");
    const gate = deferred();
    const refused = serverAnswering(answer(401, expired401, {}, gate.promise));
    const renewed = serverAnswering(answer(200, {}, { "X-Access-Token": "renewed-old" }, gate.promise));
    const late401 = client.request("/api/slow", options, refused.server);
    const lateRenewal = client.request("/api/slow", options, renewed.server);
    await Promise.all([refused.arrived, renewed.arrived]);
    rememberLogin({ token: { access: "fresh-login" } }, options);
    gate.resolve();
    await Promise.all([late401, lateRenewal]);
    assert.equal(storage.getItem("access_token"), "fresh-login");
    assert.deepEqual(prompts, []);
  });

  test(`${name}: the token removed during a request (a logout) is not brought back by its renewal`, { skip }, async () => {
    const { storage, options } = setUp();
    storage.setItem("access_token", "old");
    const gate = deferred();
    const slow = serverAnswering(answer(200, {}, { "X-Access-Token": "renewed" }, gate.promise));
    const pending = client.request("/api/slow", options, slow.server);
    await slow.arrived;
    storage.removeItem("access_token");
    gate.resolve();
    await pending;
    assert.equal(storage.getItem("access_token"), null);
  });

  test(`${name}: parallel requests with one expired token keep the one renewed token`, { skip }, async () => {
    const { storage, options } = setUp();
    storage.setItem("access_token", "expired");
    const { server, requests } = serverAnswering(answer(200, {}, { "X-Access-Token": "successor" }));
    await Promise.all(Array.from({ length: 20 }, () => client.request("/api/me", options, server)));
    assert.ok(requests.every((r) => r.authorization === "Bearer expired"));
    assert.equal(storage.getItem("access_token"), "successor");
    // The next request carries it.
    await client.request("/api/me", options, server);
    assert.equal(requests.at(-1).authorization, "Bearer successor");
  });

  test(`${name}: storage, storageKey and header options`, { skip }, async () => {
    const { storage, prompts } = setUp();
    const options = { storage, storageKey: "jwt", header: "X-Renewed", onLoginRequired: (b) => prompts.push(b.code) };
    storage.setItem("jwt", "mine");
    storage.setItem("access_token", "not-mine");
    const { server, requests } = serverAnswering(answer(200, {}, { "X-Renewed": "renewed", "X-Access-Token": "ignored" }));
    await client.request("/api/me", options, server);
    assert.equal(requests[0].authorization, "Bearer mine");
    assert.equal(storage.getItem("jwt"), "renewed");
    assert.equal(storage.getItem("access_token"), "not-mine");
  });

  test(`${name}: localStorage and "access_token" by default`, { skip }, async () => {
    localStorage.setItem("access_token", "default");
    const { server, requests } = serverAnswering(answer(200, {}, { "X-Access-Token": "default-renewed" }));
    await client.request("/api/me", {}, server);
    assert.equal(requests[0].authorization, "Bearer default");
    assert.equal(localStorage.getItem("access_token"), "default-renewed");
    localStorage.removeItem("access_token");
  });
}

test("fetch and axios on the same storage and key ask once between them", { skip: axios ? false : "needs node-axios" }, async () => {
  const { storage, prompts, options } = setUp();
  storage.setItem("access_token", "revoked");
  const { server } = serverAnswering(answer(401, expired401));
  await Promise.all([clients.fetch.request("/api/a", options, server), clients.axios.request("/api/b", options, server)]);
  assert.deepEqual(prompts, ["token_not_valid"]);
});

test("installRenewal's returned function removes its interceptors", { skip: axios ? false : "needs node-axios" }, async () => {
  const storage = new MemoryStorage();
  storage.setItem("access_token", "t");
  const seen = [];
  const instance = axios.create({
    adapter: async (config) => {
      seen.push(config.headers.get("Authorization") ?? null);
      return { data: "{}", status: 200, statusText: "", headers: { "X-Access-Token": "renewed" }, config, request: {} };
    },
  });
  const remove = installRenewal(instance, { storage });
  await instance.get("/api/me");
  remove();
  await instance.get("/api/me");
  assert.deepEqual(seen, ["Bearer t", null]);
  assert.equal(storage.getItem("access_token"), "renewed");
});

test("authFetch keeps today's call shape: (input, init, { onLoginRequired })", async () => {
  localStorage.setItem("access_token", "t");
  let seen = null;
  globalThis.fetch = async (input, init) => {
    seen = { method: init.method, body: init.body, custom: new Headers(init.headers).get("X-Custom") };
    return new Response("{}", { status: 401, headers: { "Content-Type": "application/json" } });
  };
  const response = await authFetch("/api/x", { method: "POST", body: "b", headers: { "X-Custom": "c" } }, { onLoginRequired() {} });
  assert.equal(response.status, 401);
  assert.deepEqual(seen, { method: "POST", body: "b", custom: "c" });
  assert.equal(await response.text(), "{}"); // the body is still the caller's to read
  localStorage.removeItem("access_token");
});

// A page on another origin (the gateway's auth.cors_origins): the refresh cookie goes with credentials, which
// both clients leave as the caller set them.
test("authFetch passes credentials and the rest of init on to fetch", async () => {
  localStorage.setItem("access_token", "t");
  let seen = null;
  globalThis.fetch = async (input, init) => {
    seen = { credentials: init.credentials, mode: init.mode, authorization: new Headers(init.headers).get("Authorization") };
    return new Response("{}", { status: 200 });
  };
  await authFetch("https://api.example.com/auth/logout", { method: "POST", credentials: "include", mode: "cors" }, {});
  assert.deepEqual(seen, { credentials: "include", mode: "cors", authorization: "Bearer t" });
  localStorage.removeItem("access_token");
});

test("installRenewal keeps withCredentials, the instance's and the request's", { skip: axios ? false : "needs node-axios" }, async () => {
  const storage = new MemoryStorage();
  storage.setItem("access_token", "t");
  const seen = [];
  const adapter = async (config) => {
    seen.push({ withCredentials: config.withCredentials, authorization: config.headers.get("Authorization") });
    return { data: "{}", status: 200, statusText: "", headers: {}, config, request: {} };
  };
  const shared = axios.create({ adapter, withCredentials: true });
  installRenewal(shared, { storage });
  await shared.get("https://api.example.com/api/me");
  const perRequest = axios.create({ adapter });
  installRenewal(perRequest, { storage });
  await perRequest.post("https://api.example.com/auth/logout", null, { withCredentials: true });
  assert.deepEqual(seen, [
    { withCredentials: true, authorization: "Bearer t" },
    { withCredentials: true, authorization: "Bearer t" },
  ]);
});
