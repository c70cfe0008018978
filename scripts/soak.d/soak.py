#!/usr/bin/env python3
"""Mixed load and process watch for scripts/soak (issue 12). Python 3.11+ standard library only.

    soak.py --port GATEWAY_PORT --pid GATEWAY_PID --minutes M --secret-file FILE [options]

Runs, for M minutes, against a gateway already listening on 127.0.0.1 (configured by scripts/soak:
access_ttl 3s, renewal grace 1d, routes /api/ and /files/ on nginx, /api/upload/ on the demo
upstream, login checked by the demo upstream). Defaults: --conns 360 keep-alive connections, --rate 3000
requests a second over tabs, stale, bad_token and not_found; the other groups have fixed rates.

  group      connections (default)  does; the kind it counts under: expected answer
  tabs       208 keep-alive, 4 a    a browser's tabs sharing one session: call /api/ (GET, a fifth POST)
             session, 60% of rate   and adopt the X-Access-Token handed back; valid: 200; renew (renewed or
                                    clearly expired): 200 + X-Access-Token
  stale      112 keep-alive, 1 a    keep sending the login access token for ever; valid: 200 while it
             session, 28% of rate   lasts, then stale: 200 + X-Access-Token (its successor, within grace)
  sessions   12 keep-alive, 12      a third start with a wrong password or unknown user (login_bad: 401);
             cycles/s               login (login: 201), one call (valid), 1-3 refreshes (refresh: 200),
                                    then logout (logout: 204) or, one in four, a rotated refresh token
                                    again (revoked: 401); then the last refresh token (revoked: 401) and,
                                    once expired, the access token (revoked: 401, no renewal)
  bad_token  12 keep-alive, 6%      garbage, a foreign signature, alg none, an alg lie, a refresh token,
                                    expired past the window, no token, "Bearer", two tokens (401); two
                                    Authorization headers (400)
  not_found  12 keep-alive, 6%      a path no route matches, an upstream 404 (not_found: 404)
  churn      8 workers, 150/s       a connection per request, closed by Connection: close, FIN or RST (200)
  abort      4 workers, 10/s        GET /files/big (1 GiB), read 64 KiB-4 MiB, reset the socket; a fifth
                                    reset right after sending (abort: 200 when a head was read)
  upload     4 keep-alive, 0.8/s    a 32 KiB body in 2 KiB pieces over 4 s, a third chunked (upload: 200
                                    and body_bytes 32768 from the demo upstream)
  stall      8 workers, 0.4/s       a body that stops after 1 KiB of 1 MiB, or a head that gets one more
                                    line every 5 s; held 10-75 s, then reset (outcomes only, never unexpected)

Every second it samples the gateway's VmRSS, open descriptors and threads from /proc; every
--report-every seconds it prints one line; at the end a summary and a verdict. Exit status: 0 pass,
1 fail (RSS grew over the last half by more than the margin, an unexpected status, a connection error on
a well-behaved kind, the gateway exited or passed --rss-limit-mib), 2 the run could not start (the first
logins failed).
"""
import argparse
import asyncio
import base64
import collections
import hashlib
import hmac
import json
import os
import random
import secrets
import socket
import struct
import sys
import time

KINDS = ("valid", "renew", "stale", "login", "login_bad", "refresh", "logout", "revoked",
         "bad_token", "not_found", "churn", "abort", "upload", "stall")
# Kinds whose client misbehaves on purpose: the gateway may close or reset them, so a connection error
# there is an outcome, not a failure.
ROUGH_KINDS = {"abort", "stall"}
GROUPS = ("tabs", "stale", "sessions", "bad_token", "not_found", "churn", "abort", "upload", "stall")
USERS = (("alice", "wonderland"), ("minsu", "password1"))
REQUEST_TIMEOUT = 60.0  # above the gateway's 30 s upstream timeout, so a 504 arrives before we give up
TAB_SHARE, STALE_SHARE, BAD_SHARE, NOT_FOUND_SHARE = 0.60, 0.28, 0.06, 0.06


# ---------------------------------------------------------------- tokens

def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def token_exp(token):
    try:
        return int(json.loads(b64url_decode(token.split(".")[1]))["exp"])
    except (ValueError, KeyError, IndexError, TypeError):
        return 0


def mint(key, alg="HS256", exp_in=3600, token_type="access", header_alg=None):
    """An HS256 JWT with the gateway's claim names (as scripts/bench.d/bench.py mints them)."""
    now = int(time.time())
    header = {"alg": header_alg or alg, "typ": "JWT"}
    claims = {"token_type": token_type, "exp": now + exp_in, "iat": min(now, now + exp_in - 60),
              "jti": secrets.token_hex(16), "iss": "auth-gateway", "sub": "42", "user_id": 42,
              "sid": secrets.token_hex(16)}
    signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "." +
                     b64url(json.dumps(claims, separators=(",", ":")).encode()))
    sig = "" if alg == "none" else b64url(hmac.new(key, signing_input.encode(), hashlib.sha256).digest())
    return signing_input + "." + sig


def resigned(token):
    """The same header and claims under a signature made with some other key."""
    signing_input = token.rsplit(".", 1)[0]
    return signing_input + "." + b64url(hmac.new(secrets.token_bytes(32), signing_input.encode(),
                                                 hashlib.sha256).digest())


class TokenHolder:
    """One session's current access token, shared by its tabs the way browser tabs share storage."""

    def __init__(self, access, refresh=None):
        self.access, self.refresh, self.exp = access, refresh, token_exp(access)

    def adopt(self, token):
        exp = token_exp(token)
        if exp > self.exp:
            self.access, self.exp = token, exp


# ---------------------------------------------------------------- counting

class Stats:
    def __init__(self):
        self.done = collections.Counter()          # kind -> requests answered
        self.unexpected = collections.Counter()    # (kind, what) -> count
        self.conn_errors = collections.Counter()   # (kind, what) -> count
        self.outcomes = collections.Counter()      # (kind, what) -> count, informational

    def result(self, kind, status, ok, what=None):
        self.done[kind] += 1
        if not ok:
            self.unexpected[(kind, what or str(status))] += 1

    def conn_error(self, kind, what):
        self.conn_errors[(kind, what)] += 1

    def hard_conn_errors(self):
        return sum(n for (kind, _), n in self.conn_errors.items() if kind not in ROUGH_KINDS)


def summarize(counter, limit=6):
    """'renew: 504×3, abort: reset×2' — the most frequent first."""
    parts = [f"{k}: {w}×{n}" for (k, w), n in counter.most_common(limit)]
    if len(counter) > limit:
        parts.append(f"+{len(counter) - limit} more")
    return ", ".join(parts)


# ---------------------------------------------------------------- HTTP/1.1 over raw sockets

class StartFailure(Exception):
    """The run cannot begin (exit status 2)."""


class ConnectionProblem(Exception):
    """The connection failed before a whole response arrived; the text is the counted label."""


class Response:
    __slots__ = ("status", "headers", "body", "close")

    def __init__(self, status, headers, body, close):
        self.status, self.headers, self.body, self.close = status, headers, body, close


class Connection:
    # Every open one, so that the load can be cut off cleanly: a cancelled task does not close its own.
    open_ones = set()

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def open(self):
        try:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        except ConnectionRefusedError:
            raise ConnectionProblem("refused")
        except OSError as e:
            raise ConnectionProblem(f"connect {e.strerror or e}")
        self.writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        Connection.open_ones.add(self)

    @property
    def is_open(self):
        return self.writer is not None and not self.writer.is_closing()

    def head(self, method, path, headers, length=None, chunked=False):
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in headers]
        if chunked:
            lines.append("Transfer-Encoding: chunked")
        elif length is not None:
            lines.append(f"Content-Length: {length}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def send(self, data):
        try:
            self.writer.write(data)
            await self.writer.drain()
        except (ConnectionError, OSError) as e:
            raise ConnectionProblem(problem_name(e))

    async def read_head(self):
        try:
            raw = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as e:
            raise ConnectionProblem("closed before a response" if not e.partial else "closed mid-head")
        except asyncio.LimitOverrunError:
            raise ConnectionProblem("response head too large")
        except (ConnectionError, OSError) as e:
            raise ConnectionProblem(problem_name(e))
        lines = raw.decode("latin-1").split("\r\n")
        try:
            version, status = lines[0].split(" ", 2)[:2]
            status = int(status)
        except ValueError:
            raise ConnectionProblem("bad status line")
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        close = version == "HTTP/1.0" or "close" in headers.get("connection", "").lower()
        return status, headers, close

    async def read_body(self, method, status, headers):
        try:
            if method == "HEAD" or status in (204, 304) or status < 200:
                return b""
            if "chunked" in headers.get("transfer-encoding", "").lower():
                parts = []
                while True:
                    size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                    if size == 0:
                        while await self.reader.readuntil(b"\r\n") != b"\r\n":
                            pass
                        return b"".join(parts)
                    parts.append((await self.reader.readexactly(size + 2))[:-2])
            if "content-length" in headers:
                return await self.reader.readexactly(int(headers["content-length"]))
            return await self.reader.read()  # delimited by the close
        except asyncio.IncompleteReadError:
            raise ConnectionProblem("closed mid-body")
        except ValueError:
            raise ConnectionProblem("bad body framing")
        except (ConnectionError, OSError) as e:
            raise ConnectionProblem(problem_name(e))

    async def exchange(self, method, path, headers=(), body=None, pieces=None, pause=0.0, chunked=False):
        """One request and its response. `pieces` with `pause`: the body trickles in, one piece per pause."""
        if not self.is_open:
            await self.open()
        if pieces is not None:
            length = None if chunked else sum(len(p) for p in pieces)
            await self.send(self.head(method, path, headers, length, chunked))
            for piece in pieces:
                await asyncio.sleep(pause)
                await self.send(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            if chunked:
                await self.send(b"0\r\n\r\n")
        else:
            await self.send(self.head(method, path, headers, None if body is None else len(body)) + (body or b""))
        status, rheaders, close = await self.read_head()
        rbody = await self.read_body(method, status, rheaders)
        if close:
            self.close()
        return Response(status, rheaders, rbody, close)

    def close(self):
        if self.writer is not None:
            self.writer.close()
            self.writer = None
            Connection.open_ones.discard(self)

    def reset(self):
        """Close with an RST (SO_LINGER 0): what a killed browser tab or a dropped download does."""
        if self.writer is not None:
            sock = self.writer.get_extra_info("socket")
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
            self.writer.transport.abort()
            self.writer = None
            Connection.open_ones.discard(self)


def problem_name(error):
    if isinstance(error, ConnectionResetError):
        return "reset"
    if isinstance(error, BrokenPipeError):
        return "broken pipe"
    return type(error).__name__


# ---------------------------------------------------------------- the load

class Soak:
    def __init__(self, args):
        self.args = args
        self.host, self.port = "127.0.0.1", args.port
        with open(args.secret_file, "rb") as f:
            key = f.read()
        self.key = key[:-1] if key.endswith(b"\n") else key
        self.stats = Stats()
        self.stop_at = None
        self.stopping = False
        self.tab_holders = []
        # Access tokens of sessions that ended, with their exp: checked once expired (see session_cycle).
        self.ended = collections.deque(maxlen=2000)
        self.bad_pool = self.bad_token_pool()

    def running(self):
        return not self.stopping and time.monotonic() < self.stop_at

    async def call(self, conn, kind, method, path, token=None, headers=(), **kw):
        """One exchange on `conn`, counting a connection problem under `kind`; None when there was one."""
        hdrs = list(headers)
        if token is not None:
            hdrs.append(("Authorization", f"Bearer {token}"))
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                return await conn.exchange(method, path, hdrs, **kw)
        except ConnectionProblem as e:
            self.stats.conn_error(kind, str(e))
        except TimeoutError:
            self.stats.conn_error(kind, "no response in %ds" % REQUEST_TIMEOUT)
        conn.reset()
        return None

    async def pace(self, rate):
        """Sleeps so that a loop calling this runs about `rate` times a second (jittered)."""
        interval = 1.0 / rate
        next_at = time.monotonic() + random.random() * interval
        while self.running():
            now = time.monotonic()
            if next_at > now:
                await asyncio.sleep(next_at - now)
            elif now - next_at > 1.0:
                next_at = now  # fell behind: do not burst to catch up
            next_at += interval * random.uniform(0.5, 1.5)
            if self.running():
                yield

    async def backoff_if(self, response):
        if response is None:
            await asyncio.sleep(random.uniform(0.1, 0.5))  # the gateway refused or dropped us: no tight loop

    async def login(self, conn, user=None):
        name, password = user or random.choice(USERS)
        body = json.dumps({"username": name, "password": password}).encode()
        r = await self.call(conn, "login", "POST", "/auth/login",
                            headers=[("Content-Type", "application/json")], body=body)
        if r is None:
            return None
        try:
            token = json.loads(r.body)["token"] if r.status == 201 else None
            holder = TokenHolder(token["access"], token.get("refresh")) if token else None
        except (ValueError, KeyError, TypeError):
            holder = None
        self.stats.result("login", r.status, holder is not None,
                          None if r.status != 201 else "201 without tokens")
        return holder

    def api_path(self):
        return f"/api/items/{random.randrange(100000)}?page={random.randrange(20)}"

    async def authed_call(self, conn, holder, kind_when_renewed, require_header=True, adopt=True):
        """A call on /api/ with the holder's token, counted as `kind_when_renewed` when it was renewed or
        clearly expired, else as valid. Expected: 200, with a renewal header when the token was clearly
        expired (a second either side of exp may go either way)."""
        token = holder.access
        expired = time.time() >= holder.exp + 1
        kind = kind_when_renewed if expired else "valid"
        method = "POST" if random.random() < 0.2 else "GET"
        body = json.dumps({"item": random.randrange(1000), "note": "x" * random.randrange(200)}).encode() \
            if method == "POST" else None
        headers = [("Content-Type", "application/json")] if body else []
        r = await self.call(conn, kind, method, self.api_path(), token=token, headers=headers, body=body)
        if r is None:
            return None
        renewed = r.headers.get("x-access-token")
        if renewed:
            kind = kind_when_renewed
            if adopt:
                holder.adopt(renewed)
        ok = r.status == 200 and (renewed or not expired or not require_header)
        self.stats.result(kind, r.status, ok, None if r.status != 200 else "200 without X-Access-Token")
        return r

    # -- groups

    async def tab(self, holder, rate):
        conn = Connection(self.host, self.port)
        async for _ in self.pace(rate):
            await self.backoff_if(await self.authed_call(conn, holder, "renew"))
        conn.close()

    async def stale(self, holder, rate):
        conn = Connection(self.host, self.port)
        async for _ in self.pace(rate):
            await self.backoff_if(await self.authed_call(conn, holder, "stale", adopt=False))
        conn.close()

    async def session_cycle(self, conn):
        """login_bad sometimes, then login, a call, refreshes, and logout or refresh-token reuse."""
        if not await self.check_ended(conn):
            return False
        if random.random() < 0.35:
            name, password = random.choice(USERS + (("mallory", "x"),))
            body = json.dumps({"username": name, "password": password + "-wrong"}).encode()
            r = await self.call(conn, "login_bad", "POST", "/auth/login",
                                headers=[("Content-Type", "application/json")], body=body)
            if r is not None:
                self.stats.result("login_bad", r.status, r.status == 401)
        holder = await self.login(conn)
        if holder is None:
            return False
        if await self.authed_call(conn, holder, "valid", require_header=False) is None:
            return False
        rotated = []
        for _ in range(random.randint(1, 3)):
            r = await self.call(conn, "refresh", "POST", "/auth/refresh",
                                headers=[("Content-Type", "application/json")],
                                body=json.dumps({"refresh": holder.refresh}).encode())
            if r is None:
                return False
            try:
                fresh = json.loads(r.body) if r.status == 200 else {}
                ok = "access" in fresh and "refresh" in fresh
            except ValueError:
                fresh, ok = {}, False
            self.stats.result("refresh", r.status, ok, None if r.status != 200 else "200 without tokens")
            if not ok:
                return True
            rotated.append(holder.refresh)
            holder.access, holder.refresh, holder.exp = fresh["access"], fresh["refresh"], token_exp(fresh["access"])
        if random.random() < 0.25:
            # Reuse of a rotated refresh token: 401, and the whole session is revoked (docs/http.md#the-gateways-own-endpoints).
            r = await self.call(conn, "revoked", "POST", "/auth/refresh",
                                headers=[("Content-Type", "application/json")],
                                body=json.dumps({"refresh": rotated[-1]}).encode())
            if r is None:
                return False
            self.stats.result("revoked", r.status, r.status == 401)
        else:
            r = await self.call(conn, "logout", "POST", "/auth/logout", token=holder.access)
            if r is None:
                return False
            self.stats.result("logout", r.status, r.status == 204)
        # Afterwards the refresh token is dead, and so is renewal of the access token (checked once it expired).
        self.ended.append(holder)
        r = await self.call(conn, "revoked", "POST", "/auth/refresh",
                            headers=[("Content-Type", "application/json")],
                            body=json.dumps({"refresh": holder.refresh}).encode())
        if r is not None:
            self.stats.result("revoked", r.status, r.status == 401)
        return r is not None

    async def check_ended(self, conn):
        """An expired access token of an ended session must not renew: 401 and no X-Access-Token (docs/http.md#renewal).
        Only expired ones are sent: refusing an unexpired token of a revoked session at once is docs/operations.md#revocation,
        which this soak leaves to the integration tests."""
        for _ in range(2):
            if not self.ended or time.time() < self.ended[0].exp + 1:
                return True
            holder = self.ended.popleft()
            r = await self.call(conn, "revoked", "GET", self.api_path(), token=holder.access)
            if r is None:
                return False
            renewed = r.headers.get("x-access-token")
            self.stats.result("revoked", r.status, r.status == 401 and not renewed,
                              f"{r.status}{' with X-Access-Token' if renewed else ''}")
        return True

    async def sessions(self, rate):
        conn = Connection(self.host, self.port)
        async for _ in self.pace(rate):
            if not await self.session_cycle(conn):
                await asyncio.sleep(random.uniform(0.1, 0.5))
        conn.close()

    def bad_token_pool(self):
        """A fixed set of tokens signed with the real key but wrong in one respect. Fixed, because the gateway
        caches every token that verifies but for exp: fresh ones each request would grow that cache."""
        return [mint(self.key, **wrong) for wrong in (dict(alg="none"), dict(header_alg="HS512"),
                                                      dict(token_type="refresh"), dict(exp_in=-3 * 86400))
                for _ in range(16)]

    def bad_token_request(self):
        """(headers, expected status): tokens of every wrong shape (docs/http.md#tokens, docs/http.md#error-bodies)."""
        real = random.choice(self.tab_holders).access
        auth = lambda t: [("Authorization", t)]
        variants = (
            (auth("Bearer not-a-jwt"), 401),
            (auth("Bearer " + ".".join(b64url(secrets.token_bytes(random.randint(8, 64))) for _ in range(3))), 401),
            (auth("Bearer " + resigned(real)), 401),
            # alg none, an alg lie, a refresh token, expired past the renewal window
            (auth("Bearer " + random.choice(self.bad_pool)), 401),
            (auth("Bearer " + random.choice(self.bad_pool)), 401),
            ([], 401),
            (auth("Bearer"), 401),
            (auth(f"Bearer {real} {real}"), 401),
            (auth(f"Bearer {real}") + auth("Bearer x"), 400),
        )
        return random.choice(variants)

    async def bad_token(self, rate):
        conn = Connection(self.host, self.port)
        async for _ in self.pace(rate):
            headers, want = self.bad_token_request()
            r = await self.call(conn, "bad_token", "GET", self.api_path(), headers=headers)
            if r is not None:
                self.stats.result("bad_token", r.status, r.status == want, f"{r.status} (wanted {want})")
            await self.backoff_if(r)
        conn.close()

    async def not_found(self, rate):
        conn = Connection(self.host, self.port)
        async for _ in self.pace(rate):
            if random.random() < 0.5:
                r = await self.call(conn, "not_found", "GET", f"/nowhere/{random.randrange(10**6)}")
            else:  # routed and authenticated; the upstream answers 404
                holder = random.choice(self.tab_holders)
                r = await self.call(conn, "not_found", "GET", f"/api/missing/{random.randrange(10**6)}",
                                    token=holder.access)
                if r is not None and r.headers.get("x-access-token"):
                    holder.adopt(r.headers["x-access-token"])
            if r is not None:
                self.stats.result("not_found", r.status, r.status == 404)
            await self.backoff_if(r)
        conn.close()

    async def churn(self, rate):
        async for _ in self.pace(rate):
            conn = Connection(self.host, self.port)
            mode = random.choice(("close-header", "fin", "rst"))
            holder = random.choice(self.tab_holders)
            r = await self.call(conn, "churn", "GET", self.api_path(), token=holder.access,
                                headers=[("Connection", "close")] if mode == "close-header" else ())
            if r is not None:
                if r.headers.get("x-access-token"):
                    holder.adopt(r.headers["x-access-token"])
                self.stats.result("churn", r.status, r.status == 200)
                if mode == "close-header" and not r.close:
                    self.stats.outcomes[("churn", "kept open despite Connection: close")] += 1
            conn.reset() if mode == "rst" else conn.close()
            await self.backoff_if(r)

    async def abort(self, rate):
        async for _ in self.pace(rate):
            conn = Connection(self.host, self.port)
            holder = random.choice(self.tab_holders)
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    await conn.open()
                    await conn.send(conn.head("GET", "/files/big", [("Authorization", f"Bearer {holder.access}")]))
                    if random.random() < 0.2:
                        self.stats.done["abort"] += 1
                        self.stats.outcomes[("abort", "reset before the head")] += 1
                    else:
                        status, headers, _ = await conn.read_head()
                        self.stats.result("abort", status, status == 200)
                        if status == 200:
                            if r := headers.get("x-access-token"):
                                holder.adopt(r)
                            want, got = random.randint(64 << 10, 4 << 20), 0
                            while got < want:
                                chunk = await conn.reader.read(min(65536, want - got))
                                if not chunk:
                                    break
                                got += len(chunk)
                            self.stats.outcomes[("abort", "reset mid-body" if got >= want else "body ended early")] += 1
            except ConnectionProblem as e:
                self.stats.conn_error("abort", str(e))
            except (ConnectionError, OSError) as e:
                self.stats.conn_error("abort", problem_name(e))
            except TimeoutError:
                self.stats.conn_error("abort", "no response in %ds" % REQUEST_TIMEOUT)
            conn.reset()

    async def upload(self, rate):
        conn = Connection(self.host, self.port)
        async for _ in self.pace(rate):
            holder = random.choice(self.tab_holders)
            chunked = random.random() < 0.3
            pieces = [os.urandom(2048) for _ in range(16)]
            r = await self.call(conn, "upload", "POST", f"/api/upload/{random.randrange(1000)}", token=holder.access,
                                headers=[("Content-Type", "application/octet-stream")],
                                pieces=pieces, pause=0.25, chunked=chunked)
            if r is not None:
                if r.headers.get("x-access-token"):
                    holder.adopt(r.headers["x-access-token"])
                try:
                    seen = json.loads(r.body).get("body_bytes") if r.status == 200 else None
                except (ValueError, AttributeError):
                    seen = None
                self.stats.result("upload", r.status, r.status == 200 and seen == 32768,
                                  None if r.status != 200 else f"200 with body_bytes {seen}")
            await self.backoff_if(r)
        conn.close()

    async def stall(self, rate):
        """Attack shapes: a body that stops, or a head that never ends. Whatever the gateway does within
        the hold time is recorded; the client then resets."""
        async for _ in self.pace(rate):
            conn = Connection(self.host, self.port)
            hold = random.uniform(10, 75)
            slow_head = random.random() < 0.4
            start = time.monotonic()
            try:
                await conn.open()
                if slow_head:
                    await conn.send(b"GET /api/slow HTTP/1.1\r\nHost: %s\r\n" % self.host.encode())
                else:
                    holder = random.choice(self.tab_holders)
                    await conn.send(conn.head("POST", "/api/upload/stalled", [("Authorization", f"Bearer {holder.access}")],
                                              length=1 << 20) + os.urandom(1024))
                outcome = None
                while outcome is None and self.running():
                    left = hold - (time.monotonic() - start)
                    if left <= 0:
                        outcome = "gave up"
                        break
                    try:
                        async with asyncio.timeout(min(5.0, left)):
                            status, _, _ = await conn.read_head()
                            outcome = f"answered {status}"
                    except TimeoutError:
                        if slow_head:
                            await conn.send(b"X-Slow-%d: %s\r\n" % (random.randrange(10**6), b"y" * 16))
                if outcome is None:
                    outcome = "stopped with the run"
            except ConnectionProblem as e:
                outcome = f"closed by the gateway ({e})"
            self.stats.done["stall"] += 1
            if outcome.startswith(("answered", "closed")):
                took = int(time.monotonic() - start) // 5 * 5
                outcome += f" after {took}-{took + 5}s"
            self.stats.outcomes[("stall", f"{'slow head' if slow_head else 'stalled body'}: {outcome}")] += 1
            conn.reset()

    # -- orchestration

    async def first_logins(self, count):
        """The sessions of the tabs and stale clients, logged in over a few connections."""
        holders = []

        async def worker(n):
            conn = Connection(self.host, self.port)
            for i in range(n):
                holder = await self.login(conn, USERS[i % len(USERS)])
                if holder is None:
                    raise StartFailure(f"a first login failed ({summarize(self.stats.unexpected) or summarize(self.stats.conn_errors)}); "
                                     "is the gateway or the demo upstream down?")
                holders.append(holder)
            conn.close()

        per = [count // 8 + (1 if i < count % 8 else 0) for i in range(8)]
        await asyncio.gather(*(worker(n) for n in per if n))
        return holders

    def plan(self):
        """Connections and rates per group from --conns and --rate."""
        a = self.args
        skip = set(a.skip)
        keepalive = a.conns - 40  # the rest go to sessions, bad tokens, 404s and uploads
        tabs = max(4, int(keepalive * 0.65) // 4 * 4)
        stale = max(1, keepalive - tabs)
        plan = {
            "tabs": (tabs, a.rate * TAB_SHARE),
            "stale": (stale, a.rate * STALE_SHARE),
            "sessions": (12, 12.0),         # ~12 session cycles/s: ~12 logins, ~4 bad logins, ~24 refreshes
            "bad_token": (12, a.rate * BAD_SHARE),
            "not_found": (12, a.rate * NOT_FOUND_SHARE),
            "upload": (4, 0.8),
            "churn": (8, 150.0),            # new connections a second
            "abort": (4, 10.0),
            "stall": (8, 0.4),
        }
        return {g: v for g, v in plan.items() if g not in skip}

    async def run(self):
        a = self.args
        plan = self.plan()
        sessions_needed = plan["tabs"][0] // 4 if "tabs" in plan else 4
        holders = await self.first_logins(sessions_needed + plan.get("stale", (0, 0))[0])
        self.tab_holders = holders[:sessions_needed]
        stale_holders = holders[sessions_needed:]

        self.monitor = Monitor(a.pid, self.stats, a.report_every)
        idle = self.monitor.sample()
        if idle is None:
            raise StartFailure("the gateway process is gone before the load started")
        self.monitor.idle = idle
        print(f"[soak] load for {a.minutes:g} min on 127.0.0.1:{a.port}: " +
              ", ".join(f"{g} {n} conn{'s' if n != 1 else ''} @{r:g}/s" for g, (n, r) in plan.items()) +
              f"; gateway pid {a.pid}, RSS before the load {idle[1] / 1024:.1f} MiB, {idle[2]} fds, {idle[3]} threads",
              flush=True)

        self.start = time.monotonic()
        self.stop_at = self.start + a.minutes * 60
        tasks = []
        for g, (n, rate) in plan.items():
            each = rate / n
            for i in range(n):
                if g == "tabs":
                    coro = self.tab(self.tab_holders[i // 4], each)
                elif g == "stale":
                    coro = self.stale(stale_holders[i], each)
                else:
                    coro = getattr(self, g)(each)
                tasks.append(asyncio.create_task(coro))
        stopped_early = await self.monitor.watch(self.start, self.stop_at, a.rss_limit_mib * 1024)
        elapsed = time.monotonic() - self.start
        gateway_alive = self.monitor.sample() is not None
        self.stopping = True
        # In-flight requests get a few seconds to finish; stalls and the rest are then reset.
        done, pending = await asyncio.wait(tasks, timeout=8)
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for conn in list(Connection.open_ones):
            conn.reset()
        for t in done:
            if t.exception() is not None:
                print(f"[soak] a load task failed: {t.exception()!r}", file=sys.stderr)
                self.stats.conn_error("driver", repr(t.exception()))
        await asyncio.sleep(3)  # let the gateway notice the closed connections
        after = self.monitor.sample() if gateway_alive else None
        if after:
            peers = self.monitor.sockets(self.port)
            after = after + (", ".join(f"{n} {peer}" + ("" if state == "ESTABLISHED" else f" {state}")
                                       for (peer, state), n in sorted(peers.items())) or "none",)
        return self.monitor.summary(elapsed, after, stopped_early, a)


# ---------------------------------------------------------------- the gateway's process

class Monitor:
    def __init__(self, pid, stats, report_every):
        self.pid, self.stats, self.report_every = pid, stats, report_every
        self.samples = []  # (t, rss_kb, fds, threads)
        self.idle = None
        self.hz = os.sysconf("SC_CLK_TCK")

    def sample(self, t=0.0):
        try:
            rss = threads = None
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss = int(line.split()[1])
                    elif line.startswith("Threads:"):
                        threads = int(line.split()[1])
            fds = len(os.listdir(f"/proc/{self.pid}/fd"))
            if rss is None:  # a zombie has no VmRSS
                return None
        except (OSError, ValueError):
            return None
        return (t, rss, fds, threads)

    def sockets(self, own_port):
        """The process's connected TCP sockets by (peer, state): peer 'client connections' (accepted on
        own_port) or 'to :PORT'."""
        try:
            inodes = {os.readlink(f"/proc/{self.pid}/fd/{fd}")[8:-1] for fd in os.listdir(f"/proc/{self.pid}/fd")}
        except OSError:
            return collections.Counter()
        peers = collections.Counter()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                with open(table) as f:
                    next(f)
                    for line in f:
                        fields = line.split()
                        if fields[9] in inodes and fields[3] != "0A":  # 0A: LISTEN
                            local, remote = int(fields[1].rsplit(":", 1)[1], 16), int(fields[2].rsplit(":", 1)[1], 16)
                            state = TCP_STATES.get(fields[3], fields[3])
                            peers[("client connections" if local == own_port else f"to :{remote}", state)] += 1
            except OSError:
                pass
        return peers

    def cpu_ticks(self):
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            return None

    async def watch(self, start, stop_at, rss_limit_kb):
        """Samples every second until stop_at; prints a line every report_every seconds. Returns None, or
        why it stopped early: the gateway exited, or its RSS passed rss_limit_kb (this machine is shared)."""
        next_report = start + self.report_every
        last = (start, 0, self.cpu_ticks(), os.times())
        while True:
            now = time.monotonic()
            s = self.sample(now - start)
            if s is None:
                print(f"[soak {clock(now - start)}] the gateway process {self.pid} is gone", flush=True)
                return "the gateway exited during the run"
            self.samples.append(s)
            if s[1] > rss_limit_kb:
                self.report(s, now, last)
                return f"the gateway's RSS passed {rss_limit_kb / 1024:.0f} MiB at {clock(s[0]).strip()}: load stopped early"
            if now >= next_report or now >= stop_at:
                last = self.report(s, now, last)
                next_report += self.report_every
            if now >= stop_at:
                return None
            await asyncio.sleep(min(1.0, max(0.0, stop_at - now)) or 0.01)

    def report(self, s, now, last):
        t0, n0, ticks0, times0 = last
        total = sum(self.stats.done.values())
        ticks, times = self.cpu_ticks(), os.times()
        span = max(now - t0, 1e-6)
        gw_cpu = f"{100 * (ticks - ticks0) / self.hz / span:.0f}%" if ticks is not None and ticks0 is not None else "?"
        me_cpu = 100 * ((times.user + times.system) - (times0.user + times0.system)) / span
        unexpected = sum(self.stats.unexpected.values())
        errors = sum(self.stats.conn_errors.values())
        line = (f"[soak {clock(s[0])}] rss {s[1] / 1024:.1f} MiB  fds {s[2]}  threads {s[3]}  "
                f"{(total - n0) / span:.0f} req/s (cpu: gateway {gw_cpu}, load {me_cpu:.0f}%) | " +
                " ".join(f"{k} {self.stats.done[k]}" for k in KINDS) +
                f" | unexpected {unexpected}" + (f" ({summarize(self.stats.unexpected, 3)})" if unexpected else "") +
                f" | conn errors {errors}" + (f" ({summarize(self.stats.conn_errors, 3)})" if errors else ""))
        print(line, flush=True)
        return (now, total, ticks, times)

    def summary(self, elapsed, after, stopped_early, args):
        st = self.stats
        out = []
        fail = []
        mib = lambda kb: f"{kb / 1024:.1f} MiB"
        ss = self.samples
        out.append(f"[soak] summary after {clock(elapsed)} ({len(ss)} samples, one a second)")
        if ss:
            rss = [x[1] for x in ss]
            fds = [x[2] for x in ss]
            thr = [x[3] for x in ss]
            first = next((x for x in ss if x[0] >= min(self.report_every, ss[-1][0])), ss[0])
            out.append(f"  RSS: before the load {mib(self.idle[1])}, first report ({clock(first[0]).strip()}) "
                       f"{mib(first[1])}, last {mib(rss[-1])}, max {mib(max(rss))} (at {clock(ss[rss.index(max(rss))][0]).strip()})")
            half = [x for x in ss if x[0] >= ss[-1][0] / 2]
            if len(half) >= 5:
                slope = lsq_slope([x[0] for x in half], [x[1] for x in half])  # kB per second
                growth = slope * (half[-1][0] - half[0][0])
                mid = half[0][1]
                margin = max(args.rss_margin_mib * 1024, mid * args.rss_margin_pct / 100)
                hr = [x[1] for x in half]
                out.append(f"  RSS over the last half ({clock(half[0][0])}-{clock(half[-1][0])}): min {mib(min(hr))}, "
                           f"max {mib(max(hr))}, slope {slope * 60 / 1024:+.2f} MiB/min, fitted growth "
                           f"{growth / 1024:+.1f} MiB (margin {mib(margin)} = the larger of "
                           f"{args.rss_margin_mib:g} MiB and {args.rss_margin_pct:g}% of {mib(mid)})")
                if growth > margin:
                    fail.append(f"RSS grew {growth / 1024:.1f} MiB over the last half (margin {mib(margin)})")
            else:
                out.append("  RSS over the last half: too few samples to judge")
            out.append(f"  descriptors: before the load {self.idle[2]}, under load min {min(fds)} max {max(fds)}, "
                       f"after the load {after[2] if after else '?'} (TCP: {after[4] if after else '?'}); "
                       f"threads: before {self.idle[3]}, "
                       f"min {min(thr)} max {max(thr)}")
            if after and after[2] > self.idle[2] + 16:
                out.append(f"  WARNING: {after[2] - self.idle[2]} more descriptors open 3 s after the load than before it "
                           "(upstream connections kept by the pool, or leaked)")
        total = sum(st.done.values())
        out.append(f"  requests: {total} in all, {total / max(elapsed, 1e-6):.0f}/s: " +
                   ", ".join(f"{k} {st.done[k]}" for k in KINDS))
        n_unexpected = sum(st.unexpected.values())
        out.append(f"  unexpected statuses: {n_unexpected}" + (f" ({summarize(st.unexpected, 20)})" if n_unexpected else ""))
        n_errors = sum(st.conn_errors.values())
        out.append(f"  connection errors: {n_errors}" + (f" ({summarize(st.conn_errors, 20)})" if n_errors else "") +
                   (f"; {st.hard_conn_errors()} on well-behaved kinds" if n_errors else ""))
        if st.outcomes:
            out.append("  outcomes (informational): " + summarize(st.outcomes, 20))
        if stopped_early:
            fail.append(stopped_early)
        if n_unexpected:
            fail.append(f"{n_unexpected} unexpected statuses")
        if st.hard_conn_errors():
            fail.append(f"{st.hard_conn_errors()} connection errors on well-behaved requests")
        out.append("[soak] " + ("FAIL: " + "; ".join(fail) if fail else "PASS"))
        print("\n".join(out), flush=True)
        return 1 if fail else 0


TCP_STATES = {"01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1", "05": "FIN_WAIT2",
              "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0B": "CLOSING"}


def lsq_slope(xs, ys):
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var if var else 0.0


def clock(seconds):
    seconds = int(seconds)
    return f"{seconds // 60:2d}:{seconds % 60:02d}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True, help="the gateway's port on 127.0.0.1")
    ap.add_argument("--pid", type=int, required=True, help="the gateway's process id (watched in /proc)")
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--secret-file", required=True, help="the gateway's HS256 key file (to mint bad tokens)")
    ap.add_argument("--rate", type=float, default=3000.0,
                    help="requests a second over the keep-alive API connections (tabs, stale, bad tokens, 404s)")
    ap.add_argument("--conns", type=int, default=360, help="keep-alive connections in all (at least 60)")
    ap.add_argument("--skip", default="", type=lambda s: [g for g in s.replace(",", " ").split() if g],
                    help="groups to leave out: " + " ".join(GROUPS))
    ap.add_argument("--report-every", type=float, default=30.0)
    ap.add_argument("--rss-margin-mib", type=float, default=4.0)
    ap.add_argument("--rss-margin-pct", type=float, default=5.0)
    ap.add_argument("--rss-limit-mib", type=float, default=2048.0,
                    help="stop the load early (and fail) when the gateway's RSS passes this")
    args = ap.parse_args()
    unknown = [g for g in args.skip if g not in GROUPS]
    if unknown:
        ap.error(f"unknown group(s) {' '.join(unknown)}; groups: {' '.join(GROUPS)}")
    if args.conns < 60:
        ap.error("--conns must be at least 60")
    try:
        sys.exit(asyncio.run(Soak(args).run()))
    except StartFailure as e:
        print(f"[soak] cannot start: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
