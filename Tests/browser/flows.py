#!/usr/bin/env python3
"""Browser flows for auth-gateway's JavaScript clients, in headless Chromium (Debian's chromium and
chromium-driver, selenium from PyPI), against a real gateway in front of scripts/demo_upstream.py.

    python3 Tests/browser/flows.py FLOW --gateway URL [--page URL] [--client fetch|axios] [--ttl SECONDS]
                                         [--screenshot FILE]

FLOW is one of same-origin, cross-origin, login-required, demo-page, readme-screenshot. Each prints one JSON
object with what the page saw (statuses, tokens, counts); the caller (Tests/GatewayIntegrationTests/
BrowserTests.swift, scripts/screenshot) judges it. Exit 2 with a message on stderr when the flow itself could
not run (no browser, a page that did not load, a script error in the page).
"""

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
# A neutral page on an origin: JSON, no script of its own.
NEUTRAL_PAGE = "/public/health"
USER = {"username": "alice", "password": "wonderland"}


class FlowError(Exception):
    pass


def start_browser(profile, width=1280, height=860):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--no-first-run", "--disable-extensions", f"--window-size={width},{height}",
                     f"--user-data-dir={profile}", "--hide-scrollbars"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # The driver is given, so selenium never tries to download one.
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_script_timeout(60)
    return driver


# Runs `body` (an async function's body; `args` are its arguments) in the page and returns its value.
SCRIPT = """
const done = arguments[arguments.length - 1];
const args = Array.prototype.slice.call(arguments, 0, -1);
(async function () { %s }).apply(null, args).then(
  (value) => done({ value: value === undefined ? null : value }),
  (error) => done({ error: String((error && error.stack) || error) }));
"""


def page_run(driver, body, *args):
    result = driver.execute_async_script(SCRIPT % body, *args)
    if result is None or "error" in result:
        raise FlowError("script failed in %s: %s" % (driver.current_url, result and result["error"]))
    return result["value"]


# Loads the client under test into the page as `window.client`: `client.call(url, init)` answers
# {status, renewed, body} (renewed: the renewal header as the script could read it), `client.prompts` lists
# onLoginRequired's calls; `client.post(url, data, init)` is a plain POST (fetch, or the page's axios) for login
# and refresh. `init.credentials === "include"` is axios' `withCredentials`.
LOAD_CLIENT = """
const [origin, kind] = args;
const { authFetch, rememberLogin } = await import(origin + "/demo/js/authFetch.js");
const prompts = [];
const options = { onLoginRequired: (body) => prompts.push(body.code) };
let call;
if (kind === "fetch") {
  call = async (url, init = {}) => {
    const response = await authFetch(url, init, options);
    const body = await response.json().catch(() => null);
    return { status: response.status, renewed: response.headers.get("X-Access-Token"), body };
  };
} else {
  await new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = origin + "/demo/vendor/axios.min.js";
    script.onload = resolve;
    script.onerror = () => reject(new Error("axios did not load from " + script.src));
    document.head.append(script);
  });
  const { installRenewal } = await import(origin + "/demo/js/axiosRenewal.js");
  const instance = window.axios.create();
  installRenewal(instance, options);
  call = async (url, init = {}) => {
    const config = { url, method: init.method ?? "GET", withCredentials: init.credentials === "include" };
    try {
      const response = await instance.request(config);
      return { status: response.status, renewed: response.headers.get("X-Access-Token") ?? null, body: response.data };
    } catch (error) {
      if (!error.response) throw error;
      return { status: error.response.status, renewed: error.response.headers.get("X-Access-Token") ?? null, body: error.response.data };
    }
  };
}
// A POST outside the renewal client (login, refresh), as the application would make it: fetch, or the page's
// axios. Answers a summary of the body ({status, access, refresh_in_body, code, refresh_required}), or
// {error} when the browser refused the answer (CORS): fetch rejects, axios has no response.
const summary = (status, body) => ({
  status,
  access: body?.token?.access ?? body?.access ?? null,
  refresh_in_body: typeof (body?.token?.refresh ?? body?.refresh) === "string",
  code: body?.code ?? null,
  refresh_required: Array.isArray(body?.refresh),
});
const post = kind === "fetch"
  ? async (url, data, init = {}) => {
      try {
        const response = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" },
                                            body: JSON.stringify(data), credentials: init.credentials });
        return summary(response.status, await response.json().catch(() => null));
      } catch (error) {
        return { error: String(error) };
      }
    }
  : async (url, data, init = {}) => {
      try {
        const response = await window.axios.post(url, data, { withCredentials: init.credentials === "include" });
        return summary(response.status, response.data);
      } catch (error) {
        if (!error.response) return { error: `${error.code}: ${error.message}` };
        return summary(error.response.status, error.response.data);
      }
    };
window.client = { call, post, prompts, rememberLogin, kind };
return kind;
"""


def open_with_client(driver, origin, client):
    driver.get(origin + NEUTRAL_PAGE)
    page_run(driver, LOAD_CLIENT, origin, client)


def log_in_in_page(driver, gateway):
    """POST /auth/login from the page (same origin as the gateway); stores the access token with rememberLogin."""
    return page_run(driver, """
        const [gateway, user] = args;
        const response = await fetch(gateway + "/auth/login", {
          method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(user) });
        const body = await response.json();
        if (response.status !== 201) throw new Error("login answered " + response.status + " " + JSON.stringify(body));
        window.client.rememberLogin(body);
        return { status: response.status, access: body.token.access, refresh_in_body: "refresh" in body.token };
    """, gateway, USER)


def stored(driver):
    return driver.execute_script('return localStorage.getItem("access_token");')


def call(driver, url, init=None):
    return page_run(driver, "return await window.client.call(args[0], args[1]);", url, init or {})


def refusable_call(driver, url, init=None):
    """`call`, or {error} when the browser kept the answer from the page (CORS): fetch rejects, axios has no
    response."""
    try:
        return call(driver, url, init)
    except FlowError as error:
        return {"error": str(error).splitlines()[0][:300]}


def post(driver, url, data, init=None):
    return page_run(driver, "return await window.client.post(...args);", url, data, init or {})


def parallel(driver, url, count, init=None):
    return page_run(driver, """
        const [url, count, init] = args;
        return await Promise.all(Array.from({ length: count }, () => window.client.call(url, init)));
    """, url, count, init or {})


def prompts(driver):
    return driver.execute_script("return window.client.prompts.slice();")


def wait_past(seconds):
    time.sleep(seconds + 1.0)


def same_origin(driver, args):
    gateway = args.gateway
    open_with_client(driver, gateway, args.client)
    login = log_in_in_page(driver, gateway)
    first = login["access"]
    fresh = call(driver, gateway + "/api/me")

    wait_past(args.ttl)
    renewal = call(driver, gateway + "/api/me")
    after_renewal = stored(driver)

    # Another tab renews; this one sends the token that tab stored (no second renewal).
    wait_past(args.ttl)
    this_tab = driver.current_window_handle
    driver.switch_to.new_window("tab")
    open_with_client(driver, gateway, args.client)
    other_tab = call(driver, gateway + "/api/me")
    driver.close()
    driver.switch_to.window(this_tab)
    after_other_tab = call(driver, gateway + "/api/me")
    stored_after_other_tab = stored(driver)

    # 20 calls at once, all carrying one expired token.
    wait_past(args.ttl)
    before_parallel = stored(driver)
    answers = parallel(driver, gateway + "/api/me", 20)
    return {
        "login_token": first,
        "fresh": fresh,
        "renewal": renewal,
        "stored_after_renewal": after_renewal,
        "other_tab": other_tab,
        "after_other_tab": after_other_tab,
        "stored_after_other_tab": stored_after_other_tab,
        "before_parallel": before_parallel,
        "parallel_statuses": [a["status"] for a in answers],
        "parallel_renewed": [a["renewed"] for a in answers],
        "stored_after_parallel": stored(driver),
        "prompts": prompts(driver),
    }


def refresh_cookie(driver, url):
    """The refresh cookie the browser would send to `url` (read through DevTools: HttpOnly cookies included), or
    None; of its value only a digest, to tell a rotated cookie from the old one."""
    cookies = driver.execute_cdp_cmd("Network.getCookies", {"urls": [url]})["cookies"]
    for cookie in cookies:
        if cookie["name"] == "refresh":
            digest = hashlib.sha256(cookie["value"].encode()).hexdigest()[:16]
            return {"path": cookie["path"], "http_only": cookie["httpOnly"], "secure": cookie["secure"],
                    "same_site": cookie.get("sameSite"), "value_digest": digest}
    return None


def in_new_tab(driver, url, work):
    """Runs `work()` in a new tab opened at `url`, then comes back to this one (its page and state intact)."""
    this_tab = driver.current_window_handle
    driver.switch_to.new_window("tab")
    try:
        driver.get(url)
        return work()
    finally:
        driver.close()
        driver.switch_to.window(this_tab)


def cross_origin(driver, args):
    """The application's page on another origin (`--page`, listed in the gateway's auth.cors_origins and allowed
    by the API) logs in, calls the API, refreshes and logs out through the gateway; refresh_delivery = "cookie"
    with the default cookie_path "/auth"."""
    gateway, page = args.gateway, args.page
    other = page.replace("127.0.0.1", "localhost")  # the same server under a name no one allows
    credentials = {"credentials": "include"}

    # An origin not in cors_origins: the gateway answers its preflight 405 with no CORS header, so the browser
    # never lets the page read the login's answer (it never sends the POST).
    open_with_client(driver, other, args.client)
    result = {"other_origin_login": post(driver, gateway + "/auth/login", USER, credentials)}

    open_with_client(driver, page, args.client)
    login = post(driver, gateway + "/auth/login", USER, credentials)
    result["login"] = login
    if login.get("status") != 201 or not login.get("access"):
        return result  # the caller reports the login; nothing after it can run
    driver.execute_script("window.client.rememberLogin({ token: { access: arguments[0] } });", login["access"])
    session = {"cookie_after_login": refresh_cookie(driver, gateway + "/auth/refresh"),
               "cookie_for_api": refresh_cookie(driver, gateway + "/api/echo")}

    # The API (CORS: the upstream's answer); the cookie's path keeps the refresh token away from it.
    session["fresh"] = call(driver, gateway + "/api/echo", credentials)
    wait_past(args.ttl)
    session["renewal"] = call(driver, gateway + "/api/echo", credentials)
    session["stored_after_renewal"] = stored(driver)

    # The refresh cookie goes along only with credentials; the gateway's refusal is readable too.
    session["refresh_without_credentials"] = post(driver, gateway + "/auth/refresh", {})
    session["refresh"] = post(driver, gateway + "/auth/refresh", {}, credentials)
    session["cookie_after_refresh"] = refresh_cookie(driver, gateway + "/auth/refresh")
    if session["refresh"].get("access"):
        driver.execute_script("window.client.rememberLogin({ token: { access: arguments[0] } });",
                              session["refresh"]["access"])
    session["after_refresh"] = call(driver, gateway + "/api/me")

    # HttpOnly: a script on a page the cookie's path covers (any port of the host) does not see it.
    session["document_cookie"] = in_new_tab(driver, page + "/auth/x", lambda: {
        "cookie": refresh_cookie(driver, driver.current_url),
        "text": driver.execute_script("return document.cookie;")})

    # An origin the API does not allow: the browser refuses the API's answer, valid token or not.
    token = stored(driver)

    def other_origin_call():
        page_run(driver, LOAD_CLIENT, other, args.client)
        driver.execute_script('localStorage.setItem("access_token", arguments[0]);', token or "")
        return refusable_call(driver, gateway + "/api/echo")
    session["other_origin_call"] = in_new_tab(driver, other + NEUTRAL_PAGE, other_origin_call)

    # Logout through the client, with credentials: the session ends and the cookie is cleared.
    session["logout_status"] = call(driver, gateway + "/auth/logout", {"method": "POST", **credentials})["status"]
    session["cookie_after_logout"] = refresh_cookie(driver, gateway + "/auth/refresh")
    session["refresh_after_logout"] = post(driver, gateway + "/auth/refresh", {}, credentials)
    # The gateway's own 401 on an API route carries no CORS header: the page cannot read it (a known gap, see
    # BrowserTests); whether the session ended is asked outside the browser.
    session["after_logout"] = refusable_call(driver, gateway + "/api/echo")
    session["prompts"] = prompts(driver)
    session["after_logout_outside"] = outside_call(gateway + "/api/me", token)
    result["session"] = session
    return result


def outside_call(url, token):
    """A GET with `token` from outside the browser: {status, code}."""
    request = urllib.request.Request(url, headers={"Authorization": "Bearer " + (token or "")})
    try:
        with urllib.request.urlopen(request) as answer:
            return {"status": answer.status, "code": None}
    except urllib.error.HTTPError as error:
        body = json.loads(error.read() or b"null") or {}
        return {"status": error.code, "code": body.get("code")}


def login_required(driver, args):
    gateway = args.gateway
    open_with_client(driver, gateway, args.client)
    first = log_in_in_page(driver, gateway)["access"]
    # Logged out through the client (the application does not forget the token itself).
    logout = call(driver, gateway + "/auth/logout", {"method": "POST"})
    after_logout = parallel(driver, gateway + "/api/me", 5)
    prompts_after_logout = prompts(driver)
    stored_after_logout = stored(driver)
    # Calls without a token while the user has not logged in again: no new prompt.
    without_token = parallel(driver, gateway + "/api/me", 3)
    prompts_without_token = prompts(driver)

    # A new login, then that session is revoked elsewhere (another device logs it out).
    second = log_in_in_page(driver, gateway)["access"]
    request = urllib.request.Request(gateway + "/auth/logout", method="POST", data=b"",
                                     headers={"Authorization": "Bearer " + second})
    with urllib.request.urlopen(request) as answer:
        revoke_status = answer.status
    after_revoke = parallel(driver, gateway + "/api/me", 5)
    return {
        "first_token": first,
        "logout_status": logout["status"],
        "after_logout": [{"status": a["status"], "code": (a["body"] or {}).get("code")} for a in after_logout],
        "prompts_after_logout": prompts_after_logout,
        "stored_after_logout": stored_after_logout,
        "without_token": [{"status": a["status"], "code": (a["body"] or {}).get("code")} for a in without_token],
        "prompts_without_token": prompts_without_token,
        "revoke_status": revoke_status,
        "after_revoke": [{"status": a["status"], "code": (a["body"] or {}).get("code")} for a in after_revoke],
        "prompts_after_revoke": prompts(driver),
        "stored_after_revoke": stored(driver),
    }


def timeline(driver):
    """The demo page's timeline rows, oldest first."""
    return driver.execute_script("""
        return Array.from(document.querySelectorAll("#timeline tr")).reverse().map((row) => ({
          kind: row.dataset.kind ?? null, status: row.dataset.status ?? null,
          cells: Array.from(row.cells).map((cell) => cell.textContent) }));
    """)


def wait_for_rows(driver, count, kind=None, timeout=15):
    """Waits until the timeline has `count` finished rows (of `kind`, when given)."""
    def enough(d):
        rows = [r for r in timeline(d) if r["status"] and (kind is None or r["kind"] == kind)]
        return len(rows) >= count
    WebDriverWait(driver, timeout).until(enough)


def demo_log_in(driver, gateway):
    driver.get(gateway + "/demo/")
    WebDriverWait(driver, 10).until(lambda d: d.find_element(By.ID, "login").is_displayed())
    driver.find_element(By.ID, "login").click()
    WebDriverWait(driver, 10).until(lambda d: d.find_element(By.ID, "call-me").is_displayed())


def demo_page(driver, args):
    gateway = args.gateway
    demo_log_in(driver, gateway)
    first = stored(driver)
    driver.find_element(By.ID, "call-me").click()
    wait_for_rows(driver, 1, "request")
    wait_past(args.ttl)
    driver.find_element(By.ID, "call-me").click()
    wait_for_rows(driver, 1, "renewal")
    return {"first_token": first, "stored": stored(driver), "rows": timeline(driver),
            "lifetime": driver.find_element(By.ID, "lifetime").text}


def readme_screenshot(driver, args):
    """The README's picture: a login, a call, then 10 calls at once on the expired token, one more call."""
    gateway = args.gateway
    demo_log_in(driver, gateway)
    driver.find_element(By.ID, "call-me").click()
    wait_for_rows(driver, 1, "request")
    wait_past(args.ttl)
    driver.find_element(By.ID, "call-parallel").click()
    wait_for_rows(driver, 10, "renewal")
    time.sleep(1.5)
    driver.find_element(By.ID, "call-orders").click()
    wait_for_rows(driver, 2, "request")
    time.sleep(0.5)
    return {"rows": timeline(driver)}


FLOWS = {
    "same-origin": same_origin,
    "cross-origin": cross_origin,
    "login-required": login_required,
    "demo-page": demo_page,
    "readme-screenshot": readme_screenshot,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("flow", choices=sorted(FLOWS))
    parser.add_argument("--gateway", required=True, help="the gateway's base URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("--page", help="cross-origin: the application page's origin (in auth.cors_origins, "
                                       "allowed by the API)")
    parser.add_argument("--client", choices=("fetch", "axios"), default="fetch")
    parser.add_argument("--ttl", type=float, default=2.0, help="the gateway's access_ttl in seconds")
    parser.add_argument("--screenshot", help="save a PNG of the page at the end")
    args = parser.parse_args()

    profile = tempfile.mkdtemp(prefix="auth-gateway-chromium-")
    driver = None
    try:
        driver = start_browser(profile)
        result = FLOWS[args.flow](driver, args)
        if args.screenshot:
            driver.save_screenshot(args.screenshot)
        # Anything the page logged as an error (a module that failed to load, a refused CORS request).
        result["console_errors"] = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        print(json.dumps(result))
        return 0
    except (FlowError, WebDriverException) as error:
        sys.stderr.write("browser flow %s failed: %s\n" % (args.flow, str(error).strip()))
        return 2
    finally:
        if driver is not None:
            driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
