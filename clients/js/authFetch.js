// The whole client side of auth-gateway's silent renewal: send the token, keep the renewed one,
// send the user to log in on a real 401. No refresh calls, no retry queues, no cross-tab races.
const TOKEN_KEY = "access_token";

export async function authFetch(input, init = {}, { onLoginRequired = () => location.assign("/login") } = {}) {
  const headers = new Headers(init.headers);
  const token = localStorage.getItem(TOKEN_KEY);
  if (token) headers.set("Authorization", `Bearer ${token}`);

  const response = await fetch(input, { ...init, headers });

  const renewed = response.headers.get("X-Access-Token");
  if (renewed) localStorage.setItem(TOKEN_KEY, renewed);

  if (response.status === 401) {
    const body = await response.clone().json().catch(() => ({}));
    if (body.code === "token_not_valid" || body.code === "not_authenticated") {
      localStorage.removeItem(TOKEN_KEY);
      onLoginRequired(body);
    }
  }
  return response;
}

export function rememberLogin(loginResponseBody) {
  localStorage.setItem(TOKEN_KEY, loginResponseBody.token.access);
}
