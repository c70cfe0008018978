/** The body of a 401 that ends a login (simplejwt's wire format, docs/http.md#error-bodies). */
export interface LoginRequiredBody {
  code: "token_not_valid" | "not_authenticated";
  detail: string;
  messages?: { token_class: string; token_type: string; message: string }[];
}

/** Where the access token is kept: `localStorage` by default, or anything with the same three methods. */
export type TokenStorage = Pick<Storage, "getItem" | "setItem" | "removeItem">;

/** The options `authFetch` and `installRenewal` share. */
export interface RenewalOptions {
  /**
   * Called once when a 401 `token_not_valid` or `not_authenticated` ends the login, however many requests
   * fail together; again only after a new token has been stored. Default: `location.assign("/login")`.
   */
  onLoginRequired?: (body: LoginRequiredBody) => void;
  /** Default: `localStorage`. */
  storage?: TokenStorage;
  /** Default: `"access_token"`. */
  storageKey?: string;
  /** The gateway's `renewal.header`. Default: `"X-Access-Token"`. */
  header?: string;
}

/** Internal: what both clients do with the token. */
export interface TokenStore {
  readonly header: string;
  current(): string | null;
  store(token: string): void;
  settle(sent: string | null, status: number, renewed: string | null, body: () => Promise<unknown> | unknown): Promise<void>;
}

export declare function tokenStore(options?: RenewalOptions): TokenStore;
