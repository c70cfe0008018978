#!/usr/bin/env python3
"""A stand-in for the existing API behind the gateway, for trying the gateway out by hand.

    python3 scripts/demo_upstream.py [--port 9000] [--host 127.0.0.1] [--cors-origin ORIGIN ...]

Endpoints:
  POST /auth/verify-credentials   credential check the gateway's login calls (auth.verify_url)
  GET  /api/me                    what the gateway told us about the caller (X-Auth-* headers)
  GET  /public/health             {"ok": true}
  *    /api/..., /public/...      echo of path, method, user id, body size and the names of the cookies sent
  GET  /demo/                     the browser demo (clients/demo/), /demo/js/ the clients (clients/js/),
                                  /demo/vendor/axios.min.js Debian's axios (node-axios) when installed

CORS, as an API answers it behind the gateway (which forwards preflights, docs/http.md#route-auth, and adds the renewal
header to Access-Control-Expose-Headers itself, docs/http.md#renewal): for an Origin given with --cors-origin, every answer
allows it with credentials, and a preflight (OPTIONS with Access-Control-Request-Method) gets 204 allowing the
methods and the request headers asked for. Other origins get no CORS headers, so the browser refuses.

Standard library only; HTTP/1.1 keep-alive with Content-Length on every reply.
"""

import argparse
import base64
import binascii
import json
import os
import re
import signal
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DEMO_USERS = {
    "alice": ("wonderland", {"id": 42, "username": "alice", "role": "admin", "scope": "read write"}),
    "minsu": ("password1", {"id": 7, "username": "minsu", "role": "user", "scope": "read"}),
}

BAD_CREDENTIALS = {
    "detail": "No active account found with the given credentials",
    "code": "no_active_account",
}


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# /demo/<name> and /demo/js/<name>: plain file names only (no folders, no "..").
STATIC_FOLDERS = {
    "/demo/": os.path.join(ROOT, "clients", "demo"),
    "/demo/js/": os.path.join(ROOT, "clients", "js"),
}
STATIC_FILES = {
    "/demo/": os.path.join(ROOT, "clients", "demo", "index.html"),
    "/demo/vendor/axios.min.js": "/usr/share/nodejs/axios/dist/axios.min.js",
}
STATIC_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*\.(html|js|css|svg)$")
CONTENT_TYPES = {
    "html": "text/html; charset=utf-8",
    "js": "text/javascript; charset=utf-8",
    "css": "text/css; charset=utf-8",
    "svg": "image/svg+xml",
}


class BadRequest(Exception):
    pass


def decode_claims(value):
    """X-Auth-Claims is base64url(JSON), padding optional; None when absent or unreadable."""
    if value is None:
        return None
    try:
        padded = value + "=" * (-len(value) % 4)
        return json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        return {"undecodable": value}


class DemoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without this, Nagle + the client's delayed ACK add 40 ms.
    disable_nagle_algorithm = True
    server_version = "demo-upstream/1"

    # Every method goes through one dispatcher.
    def do_GET(self):
        self.dispatch()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def log_message(self, format, *args):
        sys.stderr.write("demo upstream: %s %s\n" % (self.address_string(), format % args))

    def dispatch(self):
        path = self.path.split("?", 1)[0]
        is_credential_check = path == "/auth/verify-credentials" and self.command == "POST"
        # Only the credential check needs the body itself; elsewhere it is counted, not kept.
        self.kept_body = []
        try:
            body_bytes = self.read_body(keep=is_credential_check)
        except BadRequest as error:
            self.close_connection = True
            self.reply(HTTPStatus.BAD_REQUEST, {"detail": str(error)})
            return

        if self.is_preflight():
            self.answer_preflight()
        elif is_credential_check:
            self.verify_credentials(b"".join(self.kept_body))
        elif path.startswith("/demo/") and self.command in ("GET", "HEAD"):
            self.serve_static(path)
        elif path == "/public/health":
            self.reply(HTTPStatus.OK, {"ok": True})
        elif path == "/api/me":
            self.reply(HTTPStatus.OK, {
                "user_id": self.headers.get("X-Auth-User-Id"),
                "session_id": self.headers.get("X-Auth-Session-Id"),
                "claims": decode_claims(self.headers.get("X-Auth-Claims")),
            })
        elif path.startswith("/api/") or path.startswith("/public/"):
            self.reply(HTTPStatus.OK, {
                "path": self.path,
                "method": self.command,
                "user_id": self.headers.get("X-Auth-User-Id"),
                "body_bytes": body_bytes,
                "cookie_names": self.cookie_names(),
            })
        else:
            self.reply(HTTPStatus.NOT_FOUND, {"detail": "Not found."})

    def cookie_names(self):
        """The names of the cookies the request carried (never their values)."""
        names = []
        for header in self.headers.get_all("Cookie") or []:
            for pair in header.split(";"):
                name = pair.split("=", 1)[0].strip()
                if name:
                    names.append(name)
        return names

    def allowed_origin(self):
        origin = self.headers.get("Origin")
        return origin if origin in self.server.cors_origins else None

    def is_preflight(self):
        return (self.command == "OPTIONS" and self.headers.get("Origin") is not None
                and self.headers.get("Access-Control-Request-Method") is not None)

    def answer_preflight(self):
        headers = {}
        if self.allowed_origin():
            headers = {
                "Access-Control-Allow-Methods": "GET, HEAD, POST, PUT, PATCH, DELETE",
                "Access-Control-Max-Age": "600",
            }
            asked = self.headers.get("Access-Control-Request-Headers")
            if asked:
                headers["Access-Control-Allow-Headers"] = asked
        self.reply_bytes(HTTPStatus.NO_CONTENT, b"", None, headers)

    def serve_static(self, path):
        file = STATIC_FILES.get(path)
        if file is None:
            folder, _, name = path.rpartition("/")
            base = STATIC_FOLDERS.get(folder + "/")
            if base is not None and STATIC_NAME.match(name):
                file = os.path.join(base, name)
        try:
            with open(file or "", "rb") as handle:
                data = handle.read()
        except OSError:
            self.reply(HTTPStatus.NOT_FOUND, {"detail": "Not found."})
            return
        extension = file.rsplit(".", 1)[-1]
        self.reply_bytes(HTTPStatus.OK, data, CONTENT_TYPES[extension], {"Cache-Control": "no-store"})

    def verify_credentials(self, body):
        try:
            credentials = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            self.reply(HTTPStatus.BAD_REQUEST, {"detail": "JSON parse error"})
            return
        if not isinstance(credentials, dict):
            self.reply(HTTPStatus.BAD_REQUEST, {"detail": "expected a JSON object"})
            return
        user = DEMO_USERS.get(credentials.get("username"))
        if user is None or credentials.get("password") != user[0]:
            self.reply(HTTPStatus.UNAUTHORIZED, BAD_CREDENTIALS)
            return
        self.reply(HTTPStatus.OK, user[1])

    def read_body(self, keep):
        """Reads the whole request body, Content-Length or chunked; returns its size."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self.read_chunked(keep)
        length = self.headers.get("Content-Length")
        if length is None:
            return 0
        try:
            remaining = int(length)
        except ValueError:
            raise BadRequest("bad Content-Length")
        if remaining < 0:
            raise BadRequest("bad Content-Length")
        return self.read_exactly(remaining, keep)

    def read_chunked(self, keep):
        total = 0
        while True:
            line = self.rfile.readline(65537)
            if not line:
                raise BadRequest("truncated chunked body")
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise BadRequest("bad chunk size")
            if size == 0:
                # Trailers, if any, end with an empty line.
                while True:
                    trailer = self.rfile.readline(65537)
                    if trailer in (b"\r\n", b"\n", b""):
                        return total
            total += self.read_exactly(size, keep)
            if self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise BadRequest("bad chunk terminator")

    def read_exactly(self, count, keep):
        total = count
        while count > 0:
            part = self.rfile.read(min(count, 1 << 16))
            if not part:
                raise BadRequest("truncated body")
            if keep:
                self.kept_body.append(part)
            count -= len(part)
        return total

    def reply(self, status, payload):
        self.reply_bytes(status, json.dumps(payload).encode("utf-8"), "application/json")

    def reply_bytes(self, status, data, content_type, headers=None):
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        origin = self.allowed_origin()
        if origin:
            self.send_header("Access-Control-Allow-Origin", origin)
            self.send_header("Access-Control-Allow-Credentials", "true")
            # The gateway adds its renewal header to this list (docs/http.md#renewal).
            self.send_header("Access-Control-Expose-Headers", "X-Request-Id")
        if self.server.cors_origins:
            self.send_header("Vary", "Origin")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


class DemoServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    cors_origins = frozenset()


def main():
    parser = argparse.ArgumentParser(description="Demo upstream for auth-gateway.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000, help="0: any free port (the log line names it)")
    parser.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                        help="an origin allowed to call the API from a browser, e.g. http://127.0.0.1:3000")
    args = parser.parse_args()

    try:
        server = DemoServer((args.host, args.port), DemoHandler)
    except OSError as error:
        sys.stderr.write("demo upstream: cannot listen on %s:%d: %s\n" % (args.host, args.port, error.strerror))
        return 1
    server.cors_origins = frozenset(args.cors_origin)

    def stop(signum, frame):
        # shutdown() waits for serve_forever to return, so it must not run on the serving thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    host, port = server.server_address[:2]
    sys.stderr.write("demo upstream listening on %s:%d\n" % (host, port))
    sys.stderr.flush()
    try:
        server.serve_forever()
    finally:
        server.server_close()
    sys.stderr.write("demo upstream stopped\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
