import type { RenewalOptions } from "./tokenStore.js";

export type { LoginRequiredBody, RenewalOptions, TokenStorage } from "./tokenStore.js";

/**
 * The part of an axios instance the interceptors use, so any axios ≥ 1 (yours: this module has no
 * dependency of its own) fits, e.g. `installRenewal(axios.create({ baseURL: "/api" }))`.
 */
export interface AxiosInterceptable {
  interceptors: {
    request: {
      use(onFulfilled: (config: any) => any, onRejected?: (error: any) => any): number;
      eject(id: number): void;
    };
    response: {
      use(onFulfilled: (response: any) => any, onRejected?: (error: any) => any): number;
      eject(id: number): void;
    };
  };
}

/**
 * Installs the interceptors; the returned function removes them. They only set `Authorization`: the rest of each
 * request's config is yours, `withCredentials: true` included (a page on another origin than the gateway, whose
 * refresh cookie must go along to logout, login and refresh: `auth.cors_origins`).
 */
export declare function installRenewal(axiosInstance: AxiosInterceptable, options?: RenewalOptions): () => void;
