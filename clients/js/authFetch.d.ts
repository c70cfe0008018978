import type { RenewalOptions } from "./tokenStore.js";

export type { LoginRequiredBody, RenewalOptions, TokenStorage } from "./tokenStore.js";

/**
 * `fetch` with the stored access token as `Authorization: Bearer`; keeps a renewed token; never retries. `init`
 * goes to `fetch` as it is: a page on another origin than the gateway passes `credentials: "include"` to its
 * logout (and its login and refresh, through `fetch`) so the refresh cookie goes along (`auth.cors_origins`).
 */
export declare function authFetch(
  input: RequestInfo | URL,
  init?: RequestInit,
  options?: RenewalOptions,
): Promise<Response>;

/** Stores the access token of a login's answer (`POST /auth/login`, 201). */
export declare function rememberLogin(
  loginResponseBody: { token: { access: string } },
  options?: Pick<RenewalOptions, "storage" | "storageKey">,
): void;
