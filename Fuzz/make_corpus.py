#!/usr/bin/env python3
"""Writes the seed corpus Fuzz/corpus/<target>/ (committed; run again after changing an input layout in
Fuzz/Sources or the fuzz key in TokenFuzz.swift). Seeds are small, well-formed examples of each input layout
(see the doc comment of each target) so the fuzzer starts from inputs that reach deep into the parsers.
"""
import base64
import hashlib
import hmac
import json
import os
import shutil

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
SECRET = b"fuzz-secret-0123456789-abcdefghijklmnopqrstuvwxyz"  # TokenFuzz.secret
NOW = 1_750_000_000  # TokenFuzz.now


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(payload: dict, header: dict | None = None) -> str:
    h = b64(json.dumps(header or {"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    signing_input = h + "." + b64(json.dumps(payload, separators=(",", ":")).encode())
    return signing_input + "." + b64(hmac.new(SECRET, signing_input.encode(), hashlib.sha256).digest())


def claims(kind: str, exp: int, **extra) -> dict:
    c = {"token_type": kind, "exp": exp, "iat": NOW - 60, "jti": "j-" + kind, "iss": "auth-gateway",
         "sub": "42", "user_id": 42, "sid": "s-1"}
    c.update(extra)
    return c


def strict(c: dict) -> dict:
    """The second TokenFuzz config: issuer, audience and user id claim of its own."""
    c = dict(c, iss="https://issuer.example", uid=c["user_id"])
    del c["user_id"]
    c.setdefault("aud", "api")
    return c


def seeds() -> dict[str, list[bytes]]:
    access = token(claims("access", NOW + 300, role="admin"))
    refresh = token(claims("refresh", NOW + 3600))
    expired = token(claims("access", NOW - 10))
    strict_access = token(strict(claims("access", NOW + 300)))
    strict_refresh = token(strict(claims("refresh", NOW + 10, aud=["x", "api"])))
    out: dict[str, list[bytes]] = {}

    out["bearer"] = [s.encode() for s in [
        "Bearer " + access, "bearer  abc.def.ghi ", "BEARER\tx", "Basic dXNlcjpwYXNz", "Bearer", "Bearer a b", "", "  ",
        "Authorization: Bearer " + access + "\nHost: example.com",
        "Authorization: Bearer a\nauthorization: Basic b",
        "X-Other: 1\nAUTHORIZATION:   Bearer   tok   \n",
    ]]

    # selector: mode = b & 3, config = b >> 2 & 1, kind = refresh when b & 8
    out["token"] = [
        b"\x00" + access.encode(), b"\x08" + refresh.encode(), b"\x00" + expired.encode(),
        b"\x04" + strict_access.encode(), b"\x0c" + strict_refresh.encode(),
        b"\x00" + access.encode()[:-1] + b"B", b"\x00" + access.encode() + b"=",
        b"\x00" + token(claims("access", NOW + 300), {"alg": "none"}).encode(),
        b"\x00" + token(claims("access", NOW + 300), {"alg": "HS256", "crit": ["exp"]}).encode(),
        b"\x00e30.e30.", b"\x00...", b"\x00a.b.c.d",
        b"\x01\x00" + json.dumps(claims("access", NOW + 300)).encode(),
        b"\x01\x01" + json.dumps(claims("access", NOW + 300, nbf=NOW + 5)).encode(),
        b"\x09\x02" + json.dumps(dict(claims("refresh", NOW - 1), exp=1.75e9)).encode(),
        b"\x05\x03" + b'{"alg":"HS256","typ":"JWT","kid":"a"}\x00' + json.dumps(strict(claims("access", NOW + 300))).encode(),
        b"\x01\x00" + b'{"token_type":"access","exp":9223372036854775807,"sub":"x","iss":"auth-gateway"}',
        b"\x02\x00\x01\x00\x01\x00", b"\x02\x03\x03\x1f\x00\x01\x00\x02",
        b"\x03\x00\x00\x00\x00\x00\x00\x00\x00\x2a" + b"s-1\xffj-1\xff" + b'{"role":"admin","scope":["a","b"],"n":1.5}',
        b"\x07\x01" + "ユーザー\"\\\u2028".encode() + b"\xffsid\xffjti\xff{}",
    ]

    out["request-target"] = [s.encode() for s in [
        "/", "/api/x?y=1&z", "/public/../api/x", "/a/./b/../c/", "/..", "/a/..", "//..", "/a//b/../",
        "/%2e%2e/admin", "http://host/a/../b?q", "HTTPS://host", "http://host?x", "ftp://host/", "*",
        "/a?b#c", "/a\\b", "/\u0301..", "/caf\u00e9/./",
    ]]

    # selector % 12: delivery (cookie, both, body) * 4 + cookie name (refresh, rt, __Host-refresh, a.b-c_d)
    out["cookie"] = [
        b"\x00refresh=$1", b"\x00a=b; refresh=$2; c=d", b"\x01rt=$3", b"\x02__Host-refresh=$E",
        b"\x03x=1\na.b-c_d=$1", b"\x00refresh=; refresh=$2", b"\x00refresh =$1;refresh=$A",
        b"\x04B:{\"refresh\":\"$1\"}\nrefresh=$2", b"\x04B:{\"refresh\":7}", b"\x04B:[1]\nrefresh=$1",
        b"\x08refresh=$1", b"\x08B:{\"refresh\":\"$3\"}", b"\x00xrefresh=$1;refresh2=$2", b"\x00\trefresh=$1\t;",
    ]

    out["json"] = [s.encode() for s in [
        "/a/0\n{\"a\":[1,2]}", "\n{}", "/~0~1\n{\"~/\":true}", "/user/id\n{\"user\":{\"id\":7,\"role\":\"x\"}}",
        "/x/5\n[1,\"s\",null,true,1.5,{\"k\":[]}]", "/01\n[0,1]", "/-\n[]", "a\n1", "/~2\n", "//\n{\"\":{\"\":3}}",
        "/\u00e9\n{\"e\u0301\":1}", "\n\"\\ud83d\\ude00\"", "\n1e400", "\n-0.0", "\n12345678901234567890",
    ]]

    minimal = '[[upstreams]]\nname = "api"\ntargets = ["http://127.0.0.1:9000"]\n\n[[routes]]\npath = "/api/"\nupstream = "api"\n'
    shipped = open(os.path.join(os.path.dirname(ROOT), "..", "gateway.conf"), "rb").read()
    out["config"] = [
        shipped, minimal.encode(),
        (minimal + '\n[server]\nlisten = "${FUZZ_HOST}:${FUZZ_PORT}"\nidle_timeout = "500ms"\nmax_header_bytes = 8192\n').encode(),
        (minimal + '\n[tokens]\nleeway = "30s"\naccess_ttl = "10m"\nrefresh_ttl = "2d"\naudience = "api"\n').encode(),
        (minimal + '\n[auth]\nclaims = { role = "/role", "a~1b" = "/x/~0" }\nrefresh_delivery = "cookie"\ncookie_name = "rt"\n').encode(),
        (minimal.replace('path = "/api/"', 'path = "/api/"\nmethods = ["get", "POST"]\nrequire_claims = { role = ["admin", 1, true] }\nstrip_prefix = "/api"')).encode(),
        b'[server]\nidle_timeout = 5\nbogus = 1\n[[routes]]\npath = "x"\n',
        b'[[upstreams]]\nname = "a"\ntargets = []\n[[upstreams]]\nname = "a"\ntargets = ["https://h:1/base/"]\n',
        b'[store]\nurl = "postgres://u:p@h:5432/db?sslmode=disable"\n',
        b"[a\n", b"x = \"\\u00\"\n", b"",
    ]

    # first byte even: HeaderLines appends (op byte; parts up to 0xFF); odd: UpstreamRequestBuilder (flags, fields)
    out["header-lines"] = [
        b"\x00\x10\x00Host\xffexample\x01\x00a\xffb\r\nc\xff\x00\x02\x03x\xffy\xffz\xffw",
        b"\x02\x00\x00Name\xff\x00\x00\xff",
        b"\x01\x21user\r\nX-Evil: 1\xffHost: a\nConnection: keep-alive, X-Foo\nX-Foo: 1\nX-Auth_User-ID: evil\n"
        b"Accept: */*\nX-Forwarded-For: 1.2.3.4\nTransfer-Encoding: chunked\nContent-Length: 5\nAuthorization: Bearer t",
        b"\x01\x17Host: h\nHost: other\nX-Request-Id: \nX-Request-Id: abc\nProxy-Authorization: x\nTE: trailers\nExpect: 100-continue",
        b"\x01\x04connection: accept\nAccept: text/html\nX-Forwarded-Host: evil\nX-Forwarded-Proto: https\nEmpty:",
    ]

    # method byte, URI up to LF, then fields
    out["request-head"] = [
        b"\x00/path\nContent-Length: 5\nHost: a", b"\x01/\nTransfer-Encoding: chunked", b"\x02/x\nContent-Length: 5, 5",
        b"\x01/\nTransfer-Encoding: gzip, chunked", b"\x01/\nContent-Length: 3\nTransfer-Encoding: chunked",
        b"\x01/\nContent-Length: 007", b"\x01/\nContent-Length: +5", b"\x01/\nContent-Length: 99999999999999999999",
        b"\x06/\nConnection: close, X-A\nX-A: 1\nhOsT: b\nKeep-Alive: 5\nProxy-Foo: 1",
        b"\x01/\nTransfer-Encoding: chunked,\nConnection: ,,",
    ]

    out["status-line"] = [s.encode() for s in [
        "1.1 200 OK", "1.1 599 Custom Reason", "2 404", "1.1  700  weird  ", "1.1 abc", "1.1", "1.0 100 Continue",
        "1.1 123456789012345678 big", "1.1 1234567890123456789 too big", "1.1 299",
    ]]

    # even first byte: an upstream's answer read in pieces of byte/2+1; odd: a chunked body built from the rest
    out["upgrade-response"] = [
        b"\x00HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x02hi",
        b"\x06HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 101 OK\r\nupgrade: h2c\r\nKeep-Alive: 1\r\n\r\n",
        b"\x02HTTP/1.1 403 Forbidden\r\nContent-Length: 3\r\nConnection: close, X-A\r\nX-A: 1\r\n\r\nnoEXTRA",
        b"\x04HTTP/1.1 400 Bad\r\nTransfer-Encoding: chunked\r\nContent-Length: 9\r\n\r\n3;x\r\nbad\r\n0\r\nT: 1\r\n\r\n",
        b"\x00HTTP/1.1 426 Upgrade Required\nContent-Length: 1, 2\n\n",
        b"\x08HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n",
        b"\x01\x05hello\x01\x00\x10a longer payload",
        b"\x03\x01x\x27\x01\x00",
    ]
    return out


def main() -> None:
    for target, inputs in seeds().items():
        directory = os.path.join(ROOT, target)
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory)
        for i, data in enumerate(inputs):
            with open(os.path.join(directory, f"seed-{i:02d}"), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
