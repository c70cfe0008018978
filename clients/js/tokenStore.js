// What authFetch.js and axiosRenewal.js share: where the access token lives, what a response does to it,
// and the login-required latch. Not imported by applications (they use those two files).

const defaults = { storageKey: "access_token", header: "X-Access-Token" };

// One state per (storage, key): the latch must be shared by every wrapper that uses the same token, or two
// wrappers (a fetch and an axios instance) would each prompt for the same login.
const states = new WeakMap();

function stateFor(storage, key) {
  let byKey = states.get(storage);
  if (!byKey) states.set(storage, (byKey = new Map()));
  let state = byKey.get(key);
  if (!state) {
    state = { loginRequired: false };
    byKey.set(key, state);
    // Another tab logged in (or renewed): a later failure is a new one and prompts again. Storage events only
    // reach other tabs; this tab's own writes reset the latch below.
    if (typeof addEventListener === "function") {
      addEventListener("storage", (event) => {
        if (event.storageArea !== storage) return;
        if ((event.key === key && event.newValue) || event.key === null) state.loginRequired = false;
      });
    }
  }
  return state;
}

function defaultLoginRequired() {
  location.assign("/login");
}

/// The options both clients take, with their defaults filled in, and the token operations on them.
export function tokenStore(options = {}) {
  const storage = options.storage ?? globalThis.localStorage;
  const key = options.storageKey ?? defaults.storageKey;
  const header = options.header ?? defaults.header;
  const onLoginRequired = options.onLoginRequired ?? defaultLoginRequired;
  const state = stateFor(storage, key);

  return {
    header,

    /// The token to send now (read at every request: another tab's renewal is used at once), or null.
    current() {
      const token = storage.getItem(key);
      // A token stored since the latch closed (a login, here or in another tab) opens it again.
      if (token) state.loginRequired = false;
      return token;
    },

    store(token) {
      storage.setItem(key, token);
      state.loginRequired = false;
    },

    /// What a response means for the token the request carried (`sent`): `renewed` is the renewal header's
    /// value (or null), `body()` reads a 401's JSON body.
    async settle(sent, status, renewed, body) {
      const stored = storage.getItem(key);
      // Only an answer about the token stored now counts. Another one stored while this request was out (a
      // login, or the renewal of a parallel request that answered first) is newer than anything this late
      // answer can say, and a token removed meanwhile (a logout) must not come back.
      if (renewed && stored === sent) this.store(renewed);
      if (status !== 401 || (stored !== null && stored !== sent)) return;
      const answer = await body();
      if (answer?.code !== "token_not_valid" && answer?.code !== "not_authenticated") return;
      storage.removeItem(key);
      // Many requests fail together when a session ends: one prompt for all of them.
      if (state.loginRequired) return;
      state.loginRequired = true;
      onLoginRequired(answer);
    },
  };
}
