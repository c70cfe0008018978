// The whole client side of auth-gateway's silent renewal for fetch: send the token, keep the renewed one,
// send the user to log in on a real 401. No refresh calls, no retry queues, no cross-tab races.
import { tokenStore } from "./tokenStore.js";

export async function authFetch(input, init = {}, options = {}) {
  const tokens = tokenStore(options);
  const headers = new Headers(init.headers);
  const token = tokens.current();
  if (token) headers.set("Authorization", `Bearer ${token}`);

  const response = await fetch(input, { ...init, headers });

  await tokens.settle(token, response.status, response.headers.get(tokens.header), () =>
    response.clone().json().catch(() => ({})),
  );
  return response;
}

/// Stores the access token of a login's answer (`{"user": …, "token": {"access": …}}`, docs/http.md#the-gateways-own-endpoints).
export function rememberLogin(loginResponseBody, options = {}) {
  tokenStore(options).store(loginResponseBody.token.access);
}
