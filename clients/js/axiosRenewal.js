// auth-gateway's silent renewal for an axios instance you bring: interceptors that send the token, keep the
// renewed one and send the user to log in on a real 401. They never retry: renewal is the server's job.
import { tokenStore } from "./tokenStore.js";

/// Installs the interceptors on `axiosInstance`; returns a function that removes them.
export function installRenewal(axiosInstance, options = {}) {
  const tokens = tokenStore(options);
  // The token each request carried, for its answer (axios hands the same config object to both sides).
  const sent = new WeakMap();

  const request = axiosInstance.interceptors.request.use((config) => {
    const token = tokens.current();
    if (token) {
      if (typeof config.headers?.set === "function") config.headers.set("Authorization", `Bearer ${token}`);
      else config.headers = { ...config.headers, Authorization: `Bearer ${token}` };
    }
    sent.set(config, token);
    return config;
  });

  async function settle(response) {
    const headers = response.headers ?? {};
    const renewed =
      typeof headers.get === "function" ? headers.get(tokens.header) : headers[tokens.header.toLowerCase()];
    const token = sent.has(response.config) ? sent.get(response.config) : null;
    await tokens.settle(token, response.status, renewed ?? null, () => parsed(response.data));
  }

  const response = axiosInstance.interceptors.response.use(
    async (answer) => {
      await settle(answer);
      return answer;
    },
    async (error) => {
      if (error?.response) await settle(error.response);
      throw error;
    },
  );

  return () => {
    axiosInstance.interceptors.request.eject(request);
    axiosInstance.interceptors.response.eject(response);
  };
}

// axios leaves a body it could not parse as JSON (or was told not to: responseType "text") a string.
function parsed(data) {
  if (typeof data !== "string") return data ?? {};
  try {
    return JSON.parse(data);
  } catch {
    return {};
  }
}
