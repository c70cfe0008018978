#!/usr/bin/env python3
"""scripts/bench — compare auth-gateway with nginx and HAProxy on this machine (issue 5).

Every server under test (upstream nginx, nginx proxy, HAProxy, the gateway) is pinned to one
core (BENCH_SERVER_CPU, default 0) and wrk / curl to the other (BENCH_CLIENT_CPU, default 1).
Contenders are interleaved and repeated (A B C D A B C D) at each connection count; the table
uses the median of the repeats. Also: a renewal-heavy run, the gateway's peak RSS under load,
and a 1 GiB download streamed through the upstream alone, HAProxy and the gateway, repeated too.
With BENCH_BASELINE_BIN, a second gateway binary (an older build, say) runs as one more contender
from the same gateway.conf.in on its own port, database and log (in baseline/): interleaved in the
load and renewal-heavy runs and in the RSS line like the gateway, not in the stream.
Two more contenders in the load runs (issue 18): the libcurl floor (curl_floor.c, built here with cc) forwards
every request through libcurl's multi interface with the gateway's options and the header lines a gateway started
here sends upstream for the bench's request (captured before the run), with no auth: its CPU per request is what
libcurl costs, and the report splits the gateway's CPU per request into that floor and the rest. nginx + njs
(Debian's libnginx-mod-http-js, njs_jwt.js in an auth_request) checks the same HS256 token as HAProxy.
The servers' configs are the templates next to this file (nginx.conf.in, nginx-upstream.in,
nginx-proxy.in, nginx-njs.in, haproxy.cfg.in, gateway.conf.in, gateway-tls.in); @NAME@ marks a value filled in
at run time.

Usage: scripts/bench [--quick] [--h2]   (from anywhere; results in bench-results/run-<timestamp>/)
  --quick   a smoke run in about a minute: 3s runs, 1s warm-up, 1 repeat, 64 connections,
            256M streamed, 16 HTTP/2 connections (the knobs below still win when set)
  --h2      also HTTP/2 over TLS, after the rest: h2load (nghttp2-client, on the client core) against a
            second HAProxy from haproxy.cfg.in with `bind ... ssl crt <PEM> alpn h2,http/1.1` (the same
            jwt_verify rules) and a second gateway from gateway.conf.in with the keys of gateway-tls.in
            (tls_cert_file, tls_key_file, http2 = true), both in front of the same nginx upstream; a
            self-signed P-256 certificate made with openssl in the work dir. Contenders interleaved and
            repeated as above; p50/p99 from h2load's per-request log (--log-file). Rows in results.md,
            records (group "h2") in runs.jsonl.

Environment knobs (defaults in brackets):
  BENCH_DURATION     [10s]   length of each measured wrk run (a bare number means seconds)
  BENCH_WARMUP       [2s]    wrk warm-up before each measured run (0 = none)
  BENCH_REPEATS      [3]     repeats of the interleaved A B C D sequence per connection count
  BENCH_CONNECTIONS  ["64 256"]  connection counts
  BENCH_SKIP_GATEWAY [0]     1 = do not build or run the gateway (peers only)
  BENCH_NO_BUILD     [0]     1 = use the existing .build-release/release/gateway, do not build
  BENCH_GATEWAY_BIN  []      use this gateway binary (implies no build)
  BENCH_BASELINE_BIN []      also run this gateway binary as "auth-gateway baseline (required)"
  BENCH_BASELINE_DROP_TABLES []  config tables left out of the baseline's gateway.conf, e.g. "log" for a binary
                             older than [log] (it would refuse the unknown table)
  BENCH_STREAM_SIZE  [1G]    size of the sparse file streamed through the gateway (truncate -s)
  BENCH_PORT_BASE    [18080] ports BASE..BASE+6 on 127.0.0.1 (upstream, nginx proxy, HAProxy, gateway, baseline,
                             libcurl floor, nginx + njs); with --h2 also BASE+7 (HAProxy over TLS) and BASE+8
                             (gateway over TLS)
  BENCH_H2_CONNECTIONS ["16 64"]  with --h2: h2load connection counts (-c), a row each
  BENCH_H2_STREAMS   [10]    with --h2: concurrent streams per connection (h2load -m)
  BENCH_SERVER_CPU   [0]     core for all servers
  BENCH_CLIENT_CPU   [1]     core for wrk and curl
  BENCH_OUT          []      work/results directory (default bench-results/run-<timestamp>)
  BENCH_NO_INSTALL   [0]     1 = never run apt-get; fail if a tool is missing

"CPU µs/req" is the utime+stime of the contender's own processes (nginx master and workers, HAProxy,
the floor, the gateway) over the measured run divided by its requests: steadier than req/s on a shared machine.
It is also reported split into user space and kernel, with system calls per request (perf's syscall
tracepoint), and for the gateways by thread (event loop, libcurl transport).
"""
import argparse
import base64
import datetime
import grp
import hashlib
import hmac
import http.client
import json
import os
import pwd
import re
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PATH_UNDER_TEST = "/api/ping"

UPSTREAM = "nginx upstream alone"
NGINX_PROXY = "nginx proxy_pass"
HAPROXY = "HAProxy 2.6 jwt_verify"
GATEWAY = "auth-gateway (required)"
BASELINE = "auth-gateway baseline (required)"
FLOOR = "libcurl floor (no auth)"
NJS = "nginx + njs HS256"
# The gateway started once, before the runs, to capture the header lines it sends upstream (for the floor).
FLOOR_CAPTURE = "auth-gateway (header capture)"
NJS_MODULE = "/usr/lib/nginx/modules/ngx_http_js_module.so"
# Each gateway's folder in the work dir (config, log, database); the baseline's is apart from the gateway's.
H2_HAPROXY = "HAProxy 2.6 jwt_verify, TLS h2"
H2_GATEWAY = "auth-gateway (required), TLS h2"
GATEWAY_DIRS = {GATEWAY: "", BASELINE: "baseline", FLOOR_CAPTURE: "floor/capture", H2_GATEWAY: "h2"}

DEFAULTS = {"BENCH_DURATION": "10s", "BENCH_WARMUP": "2s", "BENCH_REPEATS": "3",
            "BENCH_CONNECTIONS": "64 256", "BENCH_SKIP_GATEWAY": "0", "BENCH_NO_BUILD": "0",
            "BENCH_GATEWAY_BIN": "", "BENCH_BASELINE_BIN": "", "BENCH_STREAM_SIZE": "1G", "BENCH_PORT_BASE": "18080",
            "BENCH_SERVER_CPU": "0", "BENCH_CLIENT_CPU": "1", "BENCH_OUT": "", "BENCH_NO_INSTALL": "0",
            "BENCH_H2_CONNECTIONS": "16 64", "BENCH_H2_STREAMS": "10"}
QUICK = {"BENCH_DURATION": "3s", "BENCH_WARMUP": "1s", "BENCH_REPEATS": "1",
         "BENCH_CONNECTIONS": "64", "BENCH_STREAM_SIZE": "256M", "BENCH_H2_CONNECTIONS": "16"}

# (command, Debian package); perf is optional: without it the report leaves system calls out.
TOOLS = (("wrk", "wrk"), ("nginx", "nginx-light"), ("haproxy", "haproxy"), ("curl", "curl"),
         ("taskset", "util-linux"), ("perf", "linux-perf"))
# The floor's compiler and libcurl flags, and nginx's njs module (a file, not a command).
FLOOR_TOOLS = (("cc", "gcc"), ("pkg-config", "pkg-config"), (NJS_MODULE, "libnginx-mod-http-js"))

H2_TOOLS = (("h2load", "nghttp2-client"), ("openssl", "openssl"))  # with --h2


def tool_present(cmd):
    return os.path.exists(cmd) if cmd.startswith("/") else shutil.which(cmd) is not None

# The gateway's threads by the names it gives them: SwiftNIO's event loops and the libcurl transport.
THREAD_GROUPS = (("NIO-ELT-", "event loop"), ("curl-", "libcurl transport"))


class BenchError(Exception):
    """A reason to stop the bench, printed as `ERROR: …`."""


def log(message):
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- settings

@dataclass(frozen=True)
class Settings:
    duration: str
    warmup: str
    repeats: int
    connections: list
    skip_gateway: bool
    no_build: bool
    gateway_bin: str
    baseline_bin: str
    stream_size: str
    ports: dict
    server_cpu: int
    client_cpu: int
    out: str
    no_install: bool

    @staticmethod
    def read(env, quick):
        get = knob_reader(env, quick)
        seconds = lambda v: v + "s" if v.isdigit() else v
        try:
            base = int(get("BENCH_PORT_BASE"))
            return Settings(
                duration=seconds(get("BENCH_DURATION")), warmup=seconds(get("BENCH_WARMUP")),
                repeats=int(get("BENCH_REPEATS")),
                connections=[int(n) for n in get("BENCH_CONNECTIONS").split()],
                skip_gateway=get("BENCH_SKIP_GATEWAY") == "1", no_build=get("BENCH_NO_BUILD") == "1",
                gateway_bin=get("BENCH_GATEWAY_BIN"), baseline_bin=get("BENCH_BASELINE_BIN"),
                stream_size=get("BENCH_STREAM_SIZE"),
                ports={UPSTREAM: base, NGINX_PROXY: base + 1, HAPROXY: base + 2, GATEWAY: base + 3, BASELINE: base + 4,
                       FLOOR: base + 5, NJS: base + 6},
                server_cpu=int(get("BENCH_SERVER_CPU")), client_cpu=int(get("BENCH_CLIENT_CPU")),
                out=get("BENCH_OUT"), no_install=get("BENCH_NO_INSTALL") == "1")
        except ValueError as e:
            raise BenchError(f"a BENCH_* knob is not a number: {e}")


def knob_reader(env, quick):
    """A BENCH_* knob's value by name: from the environment, else its (--quick) default."""
    defaults = dict(DEFAULTS, **(QUICK if quick else {}))
    return lambda name: env.get(name) or defaults[name]  # set but empty = default, as ${X:-d}


# ---------------------------------------------------------------- tools

def ensure_tools(no_install, tools):
    os.environ["PATH"] += ":/usr/sbin:/sbin"
    missing = [pkg for cmd, pkg in tools if not tool_present(cmd)]
    if missing:
        if no_install:
            raise BenchError(f"missing packages: {' '.join(missing)} (BENCH_NO_INSTALL=1)")
        sudo = []
        if os.getuid() != 0:
            if not shutil.which("sudo"):
                raise BenchError(f"need root or sudo to install: {' '.join(missing)}")
            sudo = ["sudo"]
        log(f"installing from Debian packages: {' '.join(missing)}")
        apt = sudo + ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]
        for args in (["update"], ["install", "-y"] + missing):
            if subprocess.run(apt + args, stdout=sys.stderr).returncode != 0:
                raise BenchError(f"apt-get {args[0]} failed")
    for cmd, _ in tools:
        if cmd != "perf" and not tool_present(cmd):
            raise BenchError(f"{cmd} not found after installation")


def output_of(argv):
    """stdout and stderr of a command together (version banners go to either)."""
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except OSError:
        return ""
    return p.stdout


def versions():
    m = re.search(r"^HAProxy version ([0-9.]*)", output_of(["haproxy", "-v"]), re.M)
    haproxy = m.group(1) if m else ""
    major_minor = tuple(int(x) for x in haproxy.split(".")[:2] if x.isdigit())
    if major_minor and major_minor < (2, 5):
        raise BenchError(f"HAProxy {haproxy} has no jwt_verify (needs >= 2.5)")
    nginx = output_of(["nginx", "-v"]).strip().replace("nginx version: ", "")
    first = (output_of(["wrk", "-v"]).splitlines() or [""])[0].split()
    return {"haproxy": haproxy, "nginx": nginx, "wrk": first[1] if len(first) > 1 else ""}


def perf_counts_syscalls():
    """perf's syscall tracepoint works here (a kernel or container may refuse it)."""
    if not shutil.which("perf"):
        return False
    argv = ["perf", "stat", "-x,", "-e", "raw_syscalls:sys_enter", "-o", "/dev/null", "true"]
    return subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


def ports_busy(ports):
    busy = []
    for port in ports:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # SO_REUSEADDR like nginx/haproxy do: TIME_WAIT leftovers are not "busy", a listener is.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError as e:
            busy.append(f"127.0.0.1:{port} ({e.strerror})")
        finally:
            s.close()
    return busy



def soak_helper(argv):
    """`ports-free PORT...` (exit 1 naming the busy ones) and `secret PATH`, for scripts/soak."""
    if argv[:1] == ["ports-free"]:
        busy = ports_busy([int(p) for p in argv[1:]])
        for b in busy:
            print(f"busy: {b}", file=sys.stderr)
        return 1 if busy else 0
    if argv[:1] == ["secret"] and len(argv) == 2:
        write_secret(argv[1])
        return 0
    print("usage: ports-free PORT... | secret PATH", file=sys.stderr)
    return 2


def gateway_binaries(s, work):
    """The gateway binaries to run by contender name: the gateway's (unless BENCH_SKIP_GATEWAY=1)
    and the baseline's (with BENCH_BASELINE_BIN)."""
    binaries = {GATEWAY: build_gateway(s, work), BASELINE: given_binary("BENCH_BASELINE_BIN", s.baseline_bin)}
    return {name: binary for name, binary in binaries.items() if binary}


def given_binary(knob, path):
    """A binary named by a knob, checked; None when the knob is not set."""
    if path and not os.access(path, os.X_OK):
        raise BenchError(f"{knob}={path} is not executable")
    return path or None


def build_gateway(s, work):
    """The gateway binary to run, or None with BENCH_SKIP_GATEWAY=1."""
    if s.skip_gateway:
        return None
    if s.gateway_bin:
        return given_binary("BENCH_GATEWAY_BIN", s.gateway_bin)
    binary = os.path.join(ROOT, ".build-release/release/gateway")
    if not s.no_build:
        if not shutil.which("swift"):
            raise BenchError("swift not found (install Swift 6, or BENCH_SKIP_GATEWAY=1)")
        build_log = os.path.join(work, "build.log")
        log(f"building the gateway (release); log: {build_log}")
        with open(build_log, "w") as f:
            argv = ["swift", "build", "-c", "release", "--product", "gateway", "--scratch-path", ".build-release"]
            failed = subprocess.run(argv, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT).returncode != 0
        if failed:
            print("".join(read_text(build_log).splitlines(True)[-30:]), end="", file=sys.stderr)
            raise BenchError(f"gateway release build failed (see {build_log})")
    if not os.access(binary, os.X_OK):
        raise BenchError(f"no gateway binary at {binary}")
    return binary


# ---------------------------------------------------------------- secret and tokens

def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


HASHES = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def write_secret(path):
    """64 random bytes as base64url text. As in the gateway (docs/configuration.md), the HMAC key is the file's
    text bytes minus one trailing newline, not base64-decoded."""
    text = b64url(secrets.token_bytes(64))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    return text


def mint(key, alg="HS256", header_alg=None, exp_in=3600, token_type="access", bad_key=False):
    """An HS* JWT with the gateway's claims; `header_alg` lies about the alg, `bad_key` signs
    with another key, a negative `exp_in` makes it expired."""
    if bad_key:
        key = secrets.token_urlsafe(64)
    now = int(time.time())
    claims = {"token_type": token_type, "exp": now + exp_in,
              "iat": now if exp_in > 0 else now + exp_in - 60, "jti": secrets.token_hex(16),
              "iss": "auth-gateway", "sub": "1", "user_id": 1, "sid": secrets.token_hex(16)}
    part = lambda obj: b64url(json.dumps(obj, separators=(",", ":")).encode())
    signing_input = part({"alg": header_alg or alg, "typ": "JWT"}) + "." + part(claims)
    signature = "" if alg == "none" else \
        b64url(hmac.new(key.encode(), signing_input.encode("ascii"), HASHES[alg]).digest())
    return signing_input + "." + signature


# ---------------------------------------------------------------- configs

def render(template, **values):
    """A template from this folder with every @NAME@ replaced by values[NAME]."""
    def value(m):
        if m.group(1) not in values:
            raise BenchError(f"{template}: no value for @{m.group(1)}@")
        return str(values[m.group(1)])
    return re.sub(r"@([A-Z_]+)@", value, read_text(os.path.join(HERE, template)))


def read_text(path):
    with open(path) as f:
        return f.read()


def write(path, text, mode=None):
    with open(path, "w") as f:
        f.write(text)
    if mode is not None:
        os.chmod(path, mode)


def template_values(work, ports, key):
    """The values of the plain instances' templates (the TLS ones with --h2 change ports and TLS)."""
    return {"WORK": work, "KEY": key, "UP_PORT": ports[UPSTREAM], "NGX_PORT": ports[NGINX_PROXY],
            "HAP_PORT": ports[HAPROXY], "HAP_TLS": "", "GW_PORT": ports[GATEWAY], "GW_TLS": ""}


def write_configs(work, ports, key, gateways):
    values = template_values(work, ports, key)
    for folder, site in (("nginx-up", "nginx-upstream.in"), ("nginx-proxy", "nginx-proxy.in")):
        write_nginx_conf(os.path.join(work, folder), render(site, **values))
    write(os.path.join(work, "haproxy/haproxy.cfg"), render("haproxy.cfg.in", **values), 0o600)
    for name in gateways:
        write_gateway_config(work, name, dict(values, GW_PORT=ports[name]))


def write_gateway_config(work, name, values):
    """gateway.conf.in rendered into the gateway's folder; another gateway than the main one (the baseline,
    the TLS one) gets a folder of its own with a copy of the same key."""
    directory = gateway_dir(work, name)
    if directory != work:
        os.makedirs(directory, exist_ok=True)
        shutil.copy(os.path.join(work, "secret.key"), directory)
    text = render("gateway.conf.in", **dict(values, WORK=directory))
    if name == BASELINE:
        text = drop_tables(text, os.environ.get("BENCH_BASELINE_DROP_TABLES", "").split())
    write(os.path.join(directory, "gateway.conf"), text)


def write_nginx_conf(directory, site, main=""):
    """nginx.conf.in around a rendered site, in `directory`; `main`: more lines for the main context."""
    # As root, nginx workers would run as nobody, who cannot read the work dir.
    user_line = ""
    if os.getuid() == 0:
        user_line = f"user {pwd.getpwuid(os.getuid()).pw_name} {grp.getgrgid(os.getgid()).gr_name};"
    text = render("nginx.conf.in", USER_LINE="\n".join(filter(None, (user_line, main))), DIR=directory,
                  SITE=site.rstrip("\n"))
    write(os.path.join(directory, "nginx.conf"), text)


def drop_tables(text, names):
    """The config without the `[name]` tables listed (up to the next blank line): an older baseline binary refuses
    keys it does not know, e.g. `[log]` before it existed."""
    out, dropping = [], False
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith("[") and not stripped.startswith("[["):
            dropping = stripped.strip("[]") in names
        elif stripped.startswith("[[") or not stripped:
            dropping = dropping and bool(stripped)
        if not dropping:
            out.append(line)
    return "".join(out)


def gateway_dir(work, name):
    return os.path.normpath(os.path.join(work, GATEWAY_DIRS[name]))


# ---------------------------------------------------------------- processes

class Servers:
    """The servers under test, each pinned to the server core; all stopped by stop_all()."""

    def __init__(self, cpu, work):
        self.cpu, self.work, self.procs = cpu, work, []

    def start(self, argv, log_path):
        with open(log_path, "w") as out:
            proc = subprocess.Popen(["taskset", "-c", str(self.cpu)] + argv, stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def wait_port(self, name, port, proc, seconds=20):
        for _ in range(seconds * 10):
            if proc.poll() is not None:
                raise BenchError(f"{name} exited during start-up (see logs in {self.work})")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise BenchError(f"{name} did not listen on 127.0.0.1:{port} within {seconds}s")

    def start_nginx(self, folder, port, name):
        d = os.path.join(self.work, folder)
        args = ["-p", d + "/", "-e", d + "/error.log", "-c", d + "/nginx.conf"]
        check = subprocess.run(["nginx", "-t", "-q"] + args, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
        write(os.path.join(d, "check.log"), check.stderr)
        if check.returncode != 0:
            print(check.stderr, end="", file=sys.stderr)
            raise BenchError(f"{name}: nginx config test failed")
        proc = self.start(["nginx"] + args + ["-g", "daemon off;"], os.path.join(d, "stdout.log"))
        self.wait_port(name, port, proc)
        return proc

    def start_haproxy(self, port, folder="haproxy"):
        d = os.path.join(self.work, folder)
        cfg = os.path.join(d, "haproxy.cfg")
        check = subprocess.run(["haproxy", "-c", "-q", "-f", cfg], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
        write(os.path.join(d, "check.log"), check.stdout)
        if check.returncode != 0:
            print(check.stdout, end="", file=sys.stderr)
            raise BenchError("HAProxy config check failed")
        proc = self.start(["haproxy", "-db", "-f", cfg], os.path.join(d, "haproxy.log"))
        self.wait_port("HAProxy", port, proc)
        return proc

    def start_gateway(self, name, binary, port):
        directory = gateway_dir(self.work, name)
        log_path = os.path.join(directory, "gateway.log")
        proc = self.start([binary, "serve", "--config", os.path.join(directory, "gateway.conf")], log_path)
        for _ in range(300):
            if proc.poll() is not None:
                print("".join(read_text(log_path).splitlines(True)[-20:]), end="", file=sys.stderr)
                raise BenchError(f"{name} exited during start-up")
            if "listening on" in read_text(log_path):
                break
            time.sleep(0.1)
        else:
            raise BenchError(f"{name} did not log 'listening on' within 30s")
        self.wait_port(name, port, proc, 5)
        return proc

    def stop_all(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def alive(proc):
    return proc is not None and proc.poll() is None


def process_tree_pids(pid):
    """A process and its children (an nginx master's workers)."""
    pids, todo = [], [str(pid)]
    while todo:
        p = todo.pop()
        if not os.path.exists(f"/proc/{p}"):
            continue
        pids.append(p)
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo += f.read().split()
        except OSError:
            pass
    return pids


def nginx_worker(master_pid):
    children = process_tree_pids(master_pid)[1:]
    return children[0] if children else None


def stat_ticks(stat):
    """(utime, stime) clock ticks from a /proc stat line: fields 14 and 15 of stat(5)."""
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])


def cpu_ticks(pid):
    """The process tree's user and kernel ticks, and the process's own by thread group."""
    user = system = 0
    for p in process_tree_pids(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                u, k = stat_ticks(f.read())
        except (OSError, IndexError, ValueError):
            continue
        user, system = user + u, system + k
    threads = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        tids = []
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                comm = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                ticks = sum(stat_ticks(f.read()))
        except (OSError, IndexError, ValueError):
            continue
        group = next((g for prefix, g in THREAD_GROUPS if comm.startswith(prefix)), "other")
        threads[group] = threads.get(group, 0) + ticks
    return {"total": user + system, "user": user, "sys": system, "threads": threads}


def rss_kb(pid):
    """(VmRSS, VmHWM) in kB, or (None, None) when the process is gone."""
    values = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    k, v = line.split(":", 1)
                    values[k] = int(v.split()[0])
    except OSError:
        return None, None
    return values.get("VmRSS"), values.get("VmHWM")


def mib(kb):
    return "n/a" if kb is None else f"{kb / 1024:.1f} MiB"


def reset_hwm(pid):
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


# ---------------------------------------------------------------- HTTP

def request(url, token=None, method="GET", body=None):
    """(status, headers, body) of one request on a new connection; OSError when it fails."""
    u = urllib.parse.urlsplit(url)
    headers = {"Authorization": "Bearer " + token} if token else {}
    if body is not None:
        headers["Content-Type"] = "application/json"
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        conn.request(method, u.path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    except http.client.HTTPException as e:
        raise OSError(str(e))
    finally:
        conn.close()


def status_of(url, token=None):
    """The HTTP status as text, "000" when there was no answer (as curl prints it)."""
    try:
        return str(request(url, token)[0])
    except OSError:
        return "000"


# ---------------------------------------------------------------- wrk runs and their summaries

UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}
SUFFIX = {"": 1, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9}


def parse_wrk(text):
    out = {"rps": None, "p50_ms": None, "p99_ms": None, "non2xx": 0, "socket_errors": 0, "requests": None}
    m = re.search(r"^Requests/sec:\s+([\d.]+)([kMG]?)", text, re.M)
    if m:
        out["rps"] = float(m.group(1)) * SUFFIX[m.group(2)]
    for pct, key in (("50", "p50_ms"), ("99", "p99_ms")):
        m = re.search(r"^\s*" + pct + r"(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", text, re.M)
        if m:
            out[key] = float(m.group(1)) * UNIT_MS[m.group(2)]
    m = re.search(r"^\s*(\d+) requests in", text, re.M)
    if m:
        out["requests"] = int(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    if m:
        out["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        out["socket_errors"] = sum(int(x) for x in m.groups())
        out["socket_errors_detail"] = "connect {}, read {}, write {}, timeout {}".format(*m.groups())
    return out


def slug(name):
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


@dataclass
class Contender:
    name: str
    base: str  # http://127.0.0.1:PORT
    proc: subprocess.Popen

    @property
    def url(self):
        return self.base + PATH_UNDER_TEST


class LoadRuns:
    """Runs wrk against a contender while counting its CPU time and system calls, and keeps the
    records (also appended to runs.jsonl in the work dir)."""

    def __init__(self, s, work, count_syscalls, auth_ok):
        self.s, self.work, self.count_syscalls, self.auth_ok = s, work, count_syscalls, auth_ok
        self.records = []
        self.jsonl = os.path.join(work, "runs.jsonl")
        write(self.jsonl, "")

    def wrk(self, conns, duration, url, token, out=None):
        """One wrk run pinned to the client core; with `out`, measured: latency percentiles on,
        the output kept in that file and returned."""
        argv = ["taskset", "-c", str(self.s.client_cpu), "wrk", "-t1", f"-c{conns}", f"-d{duration}",
                "-H", "Authorization: Bearer " + token, url]
        if out is None:
            subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            return ""
        with open(out, "w") as f:
            subprocess.run(argv + ["--latency"], stdout=f, stderr=subprocess.STDOUT)
        return read_text(out)

    def run(self, c, conns, rep, group, token):
        out = os.path.join(self.work, "wrk", f"{group}-{slug(c.name)}-c{conns}-r{rep}.txt")
        precheck = status_of(c.url, token)
        if not self.auth_ok.get(c.name, True):
            precheck = "auth-checks-failed"
        text, before, after, calls = "", None, None, None
        if not alive(c.proc):
            precheck = "process-dead"
            write(out, "")
        else:
            if self.s.warmup != "0s":
                self.wrk(conns, self.s.warmup, c.url, token)
            perf = None
            if self.count_syscalls:
                argv = ["taskset", "-c", str(self.s.client_cpu), "perf", "stat", "-x,", "-e", "raw_syscalls:sys_enter",
                        "-o", out + ".syscalls", "-p", ",".join(process_tree_pids(c.proc.pid))]
                perf = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                before = cpu_ticks(c.proc.pid)
                text = self.wrk(conns, self.s.duration, c.url, token, out)
                after = cpu_ticks(c.proc.pid)
            finally:
                if perf:
                    perf.send_signal(signal.SIGINT)
                    perf.wait()
            if perf:
                calls = perf_syscalls(out + ".syscalls")
        self.record(c.name, conns, rep, group, out, text, precheck, before, after, calls)

    def record(self, name, conns, rep, group, out, text, precheck, before, after, calls):
        rec = parse_wrk(text)
        rec.update({"contender": name, "conns": conns, "rep": rep, "group": group, "precheck": precheck,
                    "wrk_file": out, "cpu_us_per_req": None, "cpu_threads_us_per_req": None,
                    "syscalls_per_req": None})
        if before and after and rec["requests"]:
            per_req = lambda ticks: ticks * 1e6 / os.sysconf("SC_CLK_TCK") / rec["requests"]
            rec["cpu_us_per_req"] = per_req(after["total"] - before["total"])
            rec["cpu_user_us_per_req"] = per_req(after["user"] - before["user"])
            rec["cpu_sys_us_per_req"] = per_req(after["sys"] - before["sys"])
            rec["cpu_threads_us_per_req"] = {
                g: per_req(t - before["threads"].get(g, 0)) for g, t in after["threads"].items()}
        if calls is not None and rec["requests"]:
            rec["syscalls_per_req"] = calls / rec["requests"]
        self.keep(rec)
        errors = f", socket errors: {rec['socket_errors_detail']}" if rec["socket_errors"] else ""
        print(f"  {name:<22} c={conns:<4} rep {rep}: {f2(rec['rps'])} req/s, p50 {f2(rec['p50_ms'])} ms,"
              f" p99 {f2(rec['p99_ms'])} ms, CPU {f2(rec['cpu_us_per_req'])} µs/req{errors} [{run_status(rec, 'wrk')}]",
              file=sys.stderr, flush=True)

    def keep(self, rec):
        """A run's record, kept and appended to runs.jsonl."""
        self.records.append(rec)
        with open(self.jsonl, "a") as f:
            f.write(json.dumps(rec) + "\n")


def f2(v):
    return "-" if v is None else f"{v:.2f}"


def run_status(rec, tool):
    """`ok`, or why a run's record does not count, for the progress lines."""
    if rec["rps"] is None:
        return f"{tool} produced no result"
    if rec["non2xx"]:
        return f"INVALID: {rec['non2xx']} non-2xx/3xx"
    if rec["precheck"] != "200":
        return f"INVALID: precheck status {rec['precheck']}"
    return "ok"


def perf_syscalls(path):
    """The raw_syscalls:sys_enter count from a `perf stat -x,` output file, or None."""
    try:
        with open(path) as f:
            for line in f:
                fields = line.strip().split(",")
                if len(fields) > 2 and fields[2] == "raw_syscalls:sys_enter" and fields[0].isdigit():
                    return int(fields[0])
    except OSError:
        pass
    return None


def median_of(runs, key):
    """The median of `key` over the runs that have it (None when none has)."""
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def summarize(runs, group):
    """(contender, conns) -> the medians of its repeats and what went wrong, in first-run order."""
    summary = {}
    for r in runs:
        if r["group"] == group:
            summary.setdefault((r["contender"], r["conns"]), {"runs": []})["runs"].append(r)
    for s in summary.values():
        rs = s["runs"]
        good = [r for r in rs if r["rps"] is not None]
        problems = []
        non2xx = sum(r["non2xx"] for r in rs)
        if non2xx:
            problems.append(f"{non2xx} non-2xx/3xx")
        bad_pre = sorted({r["precheck"] for r in rs if r["precheck"] != "200"})
        if bad_pre:
            problems.append("precheck status " + "/".join(bad_pre))
        if len(good) < len(rs):
            problems.append(f"{len(rs) - len(good)} run(s) without result")
        s.update({"rps": median_of(good, "rps"), "p50": median_of(good, "p50_ms"), "p99": median_of(good, "p99_ms"),
                  "cpu": median_of(good, "cpu_us_per_req"), "cpu_user": median_of(good, "cpu_user_us_per_req"),
                  "cpu_sys": median_of(good, "cpu_sys_us_per_req"), "syscalls": median_of(good, "syscalls_per_req"),
                  "problems": problems, "socket_errors": sum(r["socket_errors"] for r in rs),
                  "all_rps": [r["rps"] for r in good]})
        s["valid"] = not problems and s["rps"] is not None
    return summary


def references(main_rows):
    """Median req/s of the upstream and of HAProxy, and HAProxy's CPU per request, by connections."""
    ref = {"upstream": {}, "haproxy": {}, "haproxy_cpu": {}}
    for (c, n), s in main_rows.items():
        if s["valid"] and c == UPSTREAM:
            ref["upstream"][n] = s["rps"]
        if s["valid"] and c == HAPROXY:
            ref["haproxy"][n], ref["haproxy_cpu"][n] = s["rps"], s["cpu"]
    return ref


def fmt(v, d=2):
    return "–" if v is None else f"{v:,.{d}f}"


def ratio(a, b):
    return "–" if (a is None or not b) else f"{a / b:.2f}"


def repeats(s):
    return " / ".join(f"{x:,.0f}" for x in s["all_rps"]) or "–"


def results_table(main_rows):
    ref = references(main_rows)
    lines = ["| contender | conns | req/s (median) | p50 ms | p99 ms | × upstream | × HAProxy | CPU µs/req"
             " | CPU × HAProxy | repeats (req/s) | notes |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    order = list(main_rows)
    for k in sorted(order, key=lambda k: (k[1], order.index(k))):
        c, n = k
        s = main_rows[k]
        notes = s["problems"] + ([f"{s['socket_errors']} socket errors"] if s["socket_errors"] else [])
        valid = s["valid"]
        lines.append("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
            c if valid else f"{c} **INVALID**", n, fmt(s["rps"], 0), fmt(s["p50"]), fmt(s["p99"]),
            ratio(s["rps"], ref["upstream"].get(n)) if valid else "–",
            ratio(s["rps"], ref["haproxy"].get(n)) if valid else "–",
            fmt(s["cpu"], 1), ratio(s["cpu"], ref["haproxy_cpu"].get(n)) if valid else "–",
            repeats(s), "; ".join(notes)))
    return lines


def renewal_lines(main_rows, renewal):
    """One line per gateway and connection count for the renewal-heavy runs, against the same gateway's
    valid-token row, the upstream and HAProxy."""
    ref = references(main_rows)
    lines = []
    for (c, n), s in renewal.items():
        gw = main_rows.get((c, n))
        line = (f"- renewal-heavy via {c} (every request carries an expired, renewable token), {n} connections: "
                f"{fmt(s['rps'], 0)} req/s, p50 {fmt(s['p50'])} ms, p99 {fmt(s['p99'])} ms, CPU {fmt(s['cpu'], 1)} µs/req")
        if s["valid"]:
            line += (f"; × its valid-token rate {ratio(s['rps'], gw['rps'] if gw and not gw['problems'] else None)},"
                     f" × upstream {ratio(s['rps'], ref['upstream'].get(n))}, × HAProxy {ratio(s['rps'], ref['haproxy'].get(n))}")
        else:
            line += " — **INVALID**: " + "; ".join(s["problems"] or ["no result"])
        lines.append(line + f" (repeats: {repeats(s)})")
    return lines


def baseline_lines(main_rows):
    """The gateway against the baseline binary (BENCH_BASELINE_BIN) by connection count: ratios of the
    median req/s and CPU per request."""
    lines = []
    for (c, n), base in main_rows.items():
        gw = main_rows.get((GATEWAY, n))
        if c != BASELINE or not gw:
            continue
        line = (f"- {GATEWAY} / {BASELINE}, {n} connections: req/s × {ratio(gw['rps'], base['rps'])},"
                f" CPU µs/req × {ratio(gw['cpu'], base['cpu'])}")
        lines.append(line + ("" if gw["valid"] and base["valid"] else " (a row is INVALID)"))
    return lines


def thread_lines(main_rows, gateways=(GATEWAY, BASELINE), haproxy=HAPROXY):
    """Where each gateway's CPU per request goes, by thread, next to HAProxy's whole process."""
    lines = []
    for (c, n), s in main_rows.items():
        per = [r["cpu_threads_us_per_req"] for r in s["runs"] if r.get("cpu_threads_us_per_req")]
        if c not in gateways or not per:
            continue
        names = sorted({g for p in per for g in p}, key=lambda g: (g == "other", g))
        parts = [f"{g} {statistics.median([p.get(g, 0) for p in per]):.1f}" for g in names]
        line = f"- {c} CPU by thread, {n} connections (median µs/req): " + ", ".join(parts)
        ha = main_rows.get((haproxy, n))
        if ha and ha["cpu"] is not None:
            line += f"; HAProxy's whole process {ha['cpu']:.1f}"
        lines.append(line)
    return lines


def cpu_lines(main_rows):
    """Every contender's CPU per request split into user space and kernel, and its system calls per request."""
    lines = []
    for n in sorted({n for (_, n) in main_rows}):
        parts = []
        for (c, m), s in main_rows.items():
            if m != n or s["cpu_user"] is None or s["cpu_sys"] is None:
                continue
            calls = "" if s["syscalls"] is None else f" ({s['syscalls']:.1f} syscalls)"
            parts.append(f"{c} {s['cpu_user']:.1f} + {s['cpu_sys']:.1f}{calls}")
        if parts:
            lines.append(f"- CPU per request, user space + kernel (median µs; system calls per request), {n} connections: "
                         + "; ".join(parts))
    return lines


# ---------------------------------------------------------------- streaming

def stream(url, token, cpu, proc, out):
    """Download url with curl (pinned to the client core) to /dev/null while sampling the
    process's RSS; the result is also written to `out` as JSON."""
    argv = ["taskset", "-c", str(cpu), "curl", "-sS", "-o", "/dev/null", "--max-time", "600",
            "-w", "%{http_code} %{size_download} %{speed_download} %{time_total}",
            "-H", "Authorization: Bearer " + token, url]
    peak = 0
    start = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while p.poll() is None:
        if proc:
            peak = max(peak, rss_kb(proc.pid)[0] or 0)
        time.sleep(0.02)
    stdout, stderr = p.communicate()
    res = {"curl_exit": p.returncode, "curl_stderr": stderr.strip(), "elapsed_s": time.monotonic() - start}
    parts = stdout.split()
    if len(parts) == 4:
        res.update({"http_code": parts[0], "bytes": int(parts[1]), "speed_MBps": float(parts[2]) / 1e6,
                    "time_s": float(parts[3])})
    if proc:
        current, hwm = rss_kb(proc.pid)
        res.update({"sampled_peak_rss_kb": peak or None, "rss_after_kb": current, "hwm_after_kb": hwm})
    write(out, json.dumps(res) + "\n")
    return res


def stream_line(name, results, want):
    good = lambda r: r.get("http_code") == "200" and r.get("bytes") == want and r.get("curl_exit") == 0
    ok = [r for r in results if good(r)]
    bad = [r for r in results if not good(r)]
    size = f"{want / 2**30:g} GiB" if want >= 2**30 else f"{want / 2**20:g} MiB"
    line = f"- {size} streamed via {name}: "
    if ok:
        speeds = sorted(r["speed_MBps"] for r in ok)
        line += (f"{statistics.median(speeds):.0f} MB/s (median of {len(ok)}: "
                 + " / ".join(f"{v:.0f}" for v in speeds) + ")")
    else:
        line += "no result"
    if bad:
        r = bad[0]
        line += (f" — **FAILED** {len(bad)} of {len(results)} (curl exit {r.get('curl_exit')}:"
                 f" {r.get('curl_stderr') or 'short or non-200'})")
    hwm = [r["hwm_after_kb"] for r in results if r.get("hwm_after_kb")]
    if hwm:
        line += (f"; peak RSS {max(hwm) / 1024:.1f} MiB (VmHWM, reset before the downloads),"
                 f" sampled VmRSS max {max((r.get('sampled_peak_rss_kb') or 0) for r in results) / 1024:.1f} MiB")
    return line


# ---------------------------------------------------------------- the libcurl floor and nginx + njs (issue 18)

class FloorAndNjs:
    """Two contenders beside HAProxy: the libcurl floor (curl_floor.c: libcurl's multi interface with the gateway's
    options and header lines, no auth) and nginx + njs checking the token (nginx-njs.in, njs_jwt.js)."""

    def __init__(self, s, work, servers, key, token):
        self.s, self.work, self.servers, self.key, self.token = s, work, servers, key, token
        self.dir = os.path.join(work, "floor")
        self.headers = os.path.join(self.dir, "header-lines.txt")
        self.notes = []

    def prepare(self, gateway_bin):
        """(name, what, start) of the two contenders, in that order; the floor only with a gateway binary (its header
        lines are the gateway's). Runs before the other servers start: the capture uses the gateway's port."""
        os.makedirs(self.dir, exist_ok=True)
        more = []
        binary = self.build_floor(gateway_bin)
        if binary:
            upstream = f"http://127.0.0.1:{self.s.ports[UPSTREAM]}"
            more.append((FLOOR, "the libcurl floor", lambda: self.start_floor(binary, upstream, "floor.log")))
        directory = os.path.join(self.work, "nginx-njs")
        os.makedirs(os.path.join(directory, "tmp"), exist_ok=True)
        site = render("nginx-njs.in", UP_PORT=self.s.ports[UPSTREAM], NJS_PORT=self.s.ports[NJS], KEY=self.key,
                      JS=os.path.join(HERE, "njs_jwt.js"))
        write_nginx_conf(directory, site, f"load_module {NJS_MODULE};")
        njs = output_of(["dpkg-query", "-W", "-f", "${Version}", "libnginx-mod-http-js"]).strip()
        self.notes.append(f"- {NJS}: njs {njs or '?'} (libnginx-mod-http-js), an auth_request subrequest to js_content"
                          " (njs_jwt.js: header alg HS256, HMAC-SHA256 via crypto, token_type access, exp), then"
                          " proxy_pass with keep-alive as nginx proxy_pass")
        more.append((NJS, "nginx + njs", lambda: self.servers.start_nginx("nginx-njs", self.s.ports[NJS], "nginx + njs")))
        return more

    def build_floor(self, gateway_bin):
        """The floor's binary, its header lines captured from the gateway; None when there is no gateway to capture."""
        if not gateway_bin:
            self.notes.append(f"- {FLOOR}: not run (it replays the gateway's header lines, and there is no gateway binary)")
            return None
        binary = os.path.join(self.dir, "curl_floor")
        flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libcurl"], stdout=subprocess.PIPE, text=True)
        with open(os.path.join(self.dir, "build.log"), "w") as f:
            argv = ["cc", "-O2", "-o", binary, os.path.join(HERE, "curl_floor.c")] + flags.stdout.split()
            if flags.returncode != 0 or subprocess.run(argv, stdout=f, stderr=subprocess.STDOUT).returncode != 0:
                raise BenchError(f"building the libcurl floor failed (libcurl4-openssl-dev: scripts/setup; see {self.dir}/build.log)")
        capture = gateway_dir(self.work, FLOOR_CAPTURE)
        os.makedirs(capture, exist_ok=True)
        shutil.copy(os.path.join(self.work, "secret.key"), capture)

        def start_gateway(upstream_port):
            write(os.path.join(capture, "gateway.conf"),
                  render("gateway.conf.in", WORK=capture, GW_PORT=self.s.ports[GATEWAY], UP_PORT=upstream_port, GW_TLS=""))
            return self.servers.start_gateway(FLOOR_CAPTURE, gateway_bin, self.s.ports[GATEWAY])
        log("libcurl floor: capturing the header lines the gateway sends upstream")
        gateway_head = self.captured_head(start_gateway, self.s.ports[GATEWAY])
        # The request line, then the lines for curl; the gateway's list also holds `Expect:` and `Accept:`, which keep
        # curl from adding its own (nothing on the wire).
        write(self.headers, "\n".join(gateway_head.split("\r\n")[1:] + ["Expect:", "Accept:"]) + "\n")
        floor_head = self.captured_head(lambda port: self.start_floor(binary, f"http://127.0.0.1:{port}", "check.log"),
                                        self.s.ports[FLOOR])
        write(os.path.join(self.dir, "gateway-head.txt"), gateway_head + "\n")
        write(os.path.join(self.dir, "floor-head.txt"), floor_head + "\n")
        request_id = lambda head: re.sub(r"(?im)^(X-Request-Id: ).*$", r"\1…", head)
        same = request_id(gateway_head) == request_id(floor_head)
        self.notes.append(
            f"- {FLOOR}: curl_floor.c, one thread (epoll + curl_multi_socket_action, the gateway's easy and multi options,"
            f" pooled easy handles), a fixed response head; its request head upstream ({len(floor_head) + 4} bytes) is "
            + ("the gateway's, X-Request-Id aside" if same else f"**not** the gateway's: see {self.dir}/*-head.txt"))
        return binary

    def start_floor(self, binary, upstream, log_name):
        port = self.s.ports[FLOOR]
        proc = self.servers.start([binary, str(port), upstream, self.headers], os.path.join(self.dir, log_name))
        self.servers.wait_port(FLOOR, port, proc)
        return proc

    def captured_head(self, start, port):
        """The request head (without its blank line) that the proxy `start(upstream_port)` starts sends upstream for
        the request wrk sends to `port`; the proxy is stopped afterwards."""
        try:
            with socket.socket() as listener:
                listener.bind(("127.0.0.1", 0))
                listener.listen(1)
                listener.settimeout(30)
                proc = start(listener.getsockname()[1])
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=30) as client:
                        client.sendall(f"GET {PATH_UNDER_TEST} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                                       f"Authorization: Bearer {self.token}\r\n\r\n".encode())
                        upstream, _ = listener.accept()
                        with upstream:
                            upstream.settimeout(30)
                            head = b""
                            while b"\r\n\r\n" not in head:
                                chunk = upstream.recv(65536)
                                if not chunk:
                                    raise OSError(f"the upstream connection closed after {len(head)} bytes")
                                head += chunk
                            upstream.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")
                        client.recv(65536)
                finally:
                    proc.terminate()
                    proc.wait(10)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise BenchError(f"libcurl floor: capturing a request head on 127.0.0.1:{port} failed: {e}")
        return head.split(b"\r\n\r\n")[0].decode("latin-1")

    def lines(self, main_rows):
        """The notes, and each gateway's CPU per request split into the floor's and the rest."""
        lines = list(self.notes)
        for (c, n), g in main_rows.items():
            floor = main_rows.get((FLOOR, n))
            if c not in (GATEWAY, BASELINE) or not floor or g["cpu"] is None or floor["cpu"] is None:
                continue
            lines.append(f"- CPU split, {c}, {n} connections: {g['cpu']:.1f} µs/req = libcurl floor {floor['cpu']:.1f}"
                         f" + the rest {g['cpu'] - floor['cpu']:.1f} (the floor is {ratio(floor['cpu'], g['cpu'])} of it)"
                         + ("" if g["valid"] and floor["valid"] else " (a row is INVALID)"))
        return lines


# ---------------------------------------------------------------- HTTP/2 over TLS (--h2)

@dataclass(frozen=True)
class H2Settings:
    connections: list
    streams: int
    ports: dict

    @staticmethod
    def read(env, quick, s):
        """The --h2 knobs; the two TLS instances' ports follow the main ones (BENCH_PORT_BASE + 7, + 8)."""
        get = knob_reader(env, quick)
        connections, streams = get("BENCH_H2_CONNECTIONS").split(), get("BENCH_H2_STREAMS").split()
        if not connections or len(streams) != 1 or not all(w.isdigit() for w in connections + streams):
            raise BenchError(f"BENCH_H2_CONNECTIONS takes whole numbers (got {' '.join(connections)!r}),"
                             f" BENCH_H2_STREAMS one (got {' '.join(streams)!r})")
        base = s.ports[UPSTREAM]
        return H2Settings(connections=[int(n) for n in connections], streams=int(streams[0]),
                          ports={H2_HAPROXY: base + 7, H2_GATEWAY: base + 8})


def h2_prepare(work, h2, values, binaries):
    """A self-signed certificate in h2/ (cert.pem, key.pem, and server.pem with both for HAProxy), the TLS
    HAProxy's config in haproxy-h2/ and the TLS gateway's in h2/, from the plain instances' templates."""
    d = os.path.join(work, "h2")
    os.makedirs(d, exist_ok=True)
    os.makedirs(os.path.join(work, "haproxy-h2"), exist_ok=True)
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    argv = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", key, "-out", cert]
    made = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if made.returncode != 0:
        raise BenchError("openssl could not make the self-signed certificate: " + made.stdout.strip())
    pem = os.path.join(d, "server.pem")
    write(pem, read_text(cert) + read_text(key), 0o600)
    tls = f" ssl crt {pem} alpn h2,http/1.1"
    write(os.path.join(work, "haproxy-h2/haproxy.cfg"),
          render("haproxy.cfg.in", **dict(values, HAP_PORT=h2.ports[H2_HAPROXY], HAP_TLS=tls)), 0o600)
    if GATEWAY in binaries:
        write_gateway_config(work, H2_GATEWAY, dict(values, GW_PORT=h2.ports[H2_GATEWAY],
                                                    GW_TLS=render("gateway-tls.in", DIR=d).rstrip("\n")))


def h2_status(url, token=None):
    """The status of one request over HTTP/2 (curl --http2: ALPN over TLS, certificate not verified) as
    text: "000" without an answer, "200 over HTTP/1.1" (say) for an answer that did not come over HTTP/2."""
    argv = ["curl", "-sk", "--http2", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code} %{http_version}"]
    parts = output_of(argv + (["-H", "Authorization: Bearer " + token] if token else []) + [url]).split()
    if len(parts) != 2 or parts[0] == "000":
        return "000"
    return parts[0] if parts[1] == "2" else f"{parts[0]} over HTTP/{parts[1]}"


def parse_h2load(text):
    """req/s, requests done, status codes, errors, request time mean/max and the TLS and application
    protocols from h2load's summary."""
    out = {"rps": None, "requests": None, "non2xx": 0, "socket_errors": 0, "mean_ms": None, "max_ms": None,
           "protocol": None, "tls": None}
    m = re.search(r"^finished in [\d.]+\w*, ([\d.]+) req/s", text, re.M)
    if m:
        out["rps"] = float(m.group(1))
    m = re.search(r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                  r"(\d+) errored, (\d+) timeout", text, re.M)
    if m:
        total, started, done, succeeded, failed, errored, timeout = map(int, m.groups())
        out.update(requests=done, h2_failed=failed, h2_errored=errored, h2_timeout=timeout,
                   h2_not_done=started - done, socket_errors=errored + timeout,
                   socket_errors_detail=f"failed {failed}, errored {errored}, timeout {timeout}")
    m = re.search(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text, re.M)
    if m:
        out["non2xx"] = sum(int(x) for x in m.groups()[1:])
    t = r"([\d.]+)(us|ms|s)\s+"
    m = re.search(r"^time for request:\s+" + t + t + t, text, re.M)
    if m:
        g = m.groups()
        out["max_ms"], out["mean_ms"] = float(g[2]) * UNIT_MS[g[3]], float(g[4]) * UNIT_MS[g[5]]
    m = re.search(r"^Application protocol: (\S+)", text, re.M)
    if m:
        out["protocol"] = m.group(1)
    tls = [re.search(r"^" + k + r": (.+)$", text, re.M) for k in ("TLS Protocol", "Cipher")]
    if all(tls):
        out["tls"] = " ".join(x.group(1).strip() for x in tls)
    return out


def request_log_percentiles(path):
    """(p50, p99) in ms of the request times in an h2load --log-file (tab-separated: start in µs since the
    epoch, status, time in µs; the main phase's requests only, as many as h2load counts done)."""
    times = []
    try:
        with open(path) as f:
            for line in f:
                fields = line.split("\t")
                if len(fields) > 2 and fields[2].strip().isdigit():
                    times.append(int(fields[2]))
    except OSError:
        pass
    if not times:
        return None, None
    times.sort()
    at = lambda q: times[min(len(times) - 1, int(q * len(times)))] / 1000
    return at(0.50), at(0.99)


def h2load_run(s, h2, work, load, c, conns, rep, token, auth_ok):
    """One h2load run pinned to the client core, with its own warm-up (connections and TLS handshakes
    before the measured phase); the server's CPU time (its process tree) and h2load's are read when h2load
    says the main phase starts and ends, the server's RSS after the run. The record is kept in `load`."""
    out = os.path.join(work, "h2load", f"{slug(c.name)}-c{conns}-m{h2.streams}-r{rep}.txt")
    precheck = h2_status(c.url, token) if alive(c.proc) else "process-dead"
    if not auth_ok.get(c.name, True):
        precheck = "auth-checks-failed"
    requests_log = out + ".requests"
    argv = ["taskset", "-c", str(s.client_cpu), "h2load", "-t1", f"-c{conns}", f"-m{h2.streams}",
            "-H", "authorization: Bearer " + token, "-D", s.duration, f"--log-file={requests_log}"]
    argv += [f"--warm-up-time={s.warmup}"] if s.warmup != "0s" else []
    text, server, client, (p50, p99) = "", [], [], (None, None)
    if alive(c.proc):
        with open(out, "w") as f:
            p = subprocess.Popen(argv + [c.url], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for line in p.stdout:
                f.write(line)
                if line.startswith("Main benchmark duration is"):  # "… started …", "… over …"
                    server.append((time.monotonic(), cpu_ticks(c.proc.pid)))
                    client.append(cpu_ticks(p.pid))
            p.wait()
        text = read_text(out)
        p50, p99 = request_log_percentiles(requests_log)
        os.remove(requests_log)  # ~10 MB a run; the percentiles are in the record
    rec = parse_h2load(text)
    rec.update({"contender": c.name, "conns": conns, "streams": h2.streams, "rep": rep, "group": "h2",
                "precheck": precheck, "h2load_file": out, "p50_ms": p50, "p99_ms": p99, "cpu_us_per_req": None,
                "server_core_pct": None, "client_core_pct": None, "server_rss_kb": rss_kb(c.proc.pid)[0]})
    if len(server) == 2 and rec["requests"]:
        (t0, before), (t1, after) = server
        tick = 1 / os.sysconf("SC_CLK_TCK")
        per_req = lambda key: (after[key] - before[key]) * tick * 1e6 / rec["requests"]
        rec.update(cpu_us_per_req=per_req("total"), cpu_user_us_per_req=per_req("user"),
                   cpu_sys_us_per_req=per_req("sys"), cpu_threads_us_per_req={
                       g: (ticks - before["threads"].get(g, 0)) * tick * 1e6 / rec["requests"]
                       for g, ticks in after["threads"].items()},
                   server_core_pct=(after["total"] - before["total"]) * tick * 100 / (t1 - t0),
                   client_core_pct=(client[1]["total"] - client[0]["total"]) * tick * 100 / (t1 - t0))
    load.keep(rec)
    status = run_status(rec, "h2load")
    if status == "ok" and rec["protocol"] != "h2":
        status = f"INVALID: h2load negotiated {rec['protocol']}"
    errors = f", h2load {rec['socket_errors_detail']}" if rec.get("h2_failed") or rec["socket_errors"] else ""
    print(f"  {c.name:<32} c={conns:<3} m={h2.streams} rep {rep}: {f2(rec['rps'])} req/s, p50 {f2(p50)} ms,"
          f" p99 {f2(p99)} ms, CPU {f2(rec['cpu_us_per_req'])} µs/req, server core {f2(rec['server_core_pct'])} %,"
          f" h2load core {f2(rec['client_core_pct'])} %{errors} [{status}]", file=sys.stderr, flush=True)


def h2_summary(records):
    """summarize() of the h2 group, with h2load's own columns and its protocol check."""
    rows = summarize(records, "h2")
    for row in rows.values():
        good = [r for r in row["runs"] if r["rps"] is not None]
        row.update({k: median_of(good, k) for k in ("mean_ms", "server_core_pct", "client_core_pct")})
        row["max_ms"] = max((r["max_ms"] for r in good if r["max_ms"] is not None), default=None)
        failed = sum(r.get("h2_failed", 0) for r in row["runs"])
        if failed:
            row["problems"].append(f"h2load failed {failed}")
        protocols = sorted({str(r["protocol"]) for r in good})
        if protocols != ["h2"]:
            row["problems"].append("h2load negotiated " + "/".join(protocols))
        row["valid"] = not row["problems"] and row["rps"] is not None
    return rows


def h2_table(rows):
    """The HTTP/2 rows, each connection count's gateway against the HAProxy of the same count."""
    lines = ["| contender (TLS, HTTP/2) | conns × streams | req/s (median) | p50 ms | p99 ms | mean ms | max ms"
             " | × HAProxy | CPU µs/req | CPU × HAProxy | server core % | h2load core % | repeats (req/s) | notes |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    order = list(rows)
    for k in sorted(order, key=lambda k: (k[1], order.index(k))):
        (c, n), s = k, rows[k]
        ha = rows.get((H2_HAPROXY, n))
        ref = ha if ha and ha["valid"] and s["valid"] else {"rps": None, "cpu": None}
        notes = s["problems"] + ([f"{s['socket_errors']} h2load errors/timeouts"] if s["socket_errors"] else [])
        lines.append("| {} | {} × {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
            c if s["valid"] else f"{c} **INVALID**", n, s["runs"][0]["streams"], fmt(s["rps"], 0), fmt(s["p50"]),
            fmt(s["p99"]), fmt(s["mean_ms"]), fmt(s["max_ms"]), ratio(s["rps"], ref["rps"]), fmt(s["cpu"], 1),
            ratio(s["cpu"], ref["cpu"]), fmt(s["server_core_pct"], 0), fmt(s["client_core_pct"], 0),
            repeats(s), "; ".join(notes)))
    return lines


def h2_log_line(work):
    """What the TLS gateway logged besides its start-up lines."""
    path = os.path.join(gateway_dir(work, H2_GATEWAY), "gateway.log")
    lines = [line for line in read_text(path).splitlines() if line.strip() and "listening on" not in line]
    if not lines:
        return f"- {H2_GATEWAY}'s log: nothing besides start-up"
    shown = "; ".join(f"`{line[:200]}`" for line in lines[:5])
    return f"- {H2_GATEWAY}'s log: **{len(lines)} lines** besides start-up (h2/gateway.log), first: {shown}"


def h2_section(s, h2, work, servers, binaries, load, key, token, haproxy_version):
    """Start the TLS HAProxy and the TLS gateway, check the token rules over HTTP/2, run h2load against
    them, interleaved and repeated; the report's lines."""
    def contender(name, start):
        log(f"starting {name} on 127.0.0.1:{h2.ports[name]} (cpu {s.server_cpu})")
        return Contender(name, f"https://127.0.0.1:{h2.ports[name]}", start())
    contenders = [contender(H2_HAPROXY, lambda: servers.start_haproxy(h2.ports[H2_HAPROXY], "haproxy-h2"))]
    if GATEWAY in binaries:
        contenders.append(contender(H2_GATEWAY, lambda: servers.start_gateway(
            H2_GATEWAY, binaries[GATEWAY], h2.ports[H2_GATEWAY])))
        time.sleep(0.5)
    idle_rss = {c.name: rss_kb(c.proc.pid)[0] for c in contenders}
    log("token checks over HTTP/2 (curl --http2 over TLS):")
    check_lines, auth_ok = token_checks(contenders, key, token, h2_status)
    write(os.path.join(work, "checks/token-checks-h2.md"), "\n".join(check_lines) + "\n")
    print("\n".join(check_lines), file=sys.stderr)
    os.makedirs(os.path.join(work, "h2load"), exist_ok=True)
    log(f"HTTP/2 load: {len(contenders)} contenders × {s.repeats} repeats × connections "
        f"[{' '.join(map(str, h2.connections))}] × {h2.streams} streams: h2load runs of {s.duration} (+{s.warmup} warm-up)")
    for n in h2.connections:
        for rep in range(1, s.repeats + 1):
            for c in contenders:
                h2load_run(s, h2, work, load, c, n, rep, token, auth_ok)
    records = [r for r in load.records if r["group"] == "h2"]
    tls = "; ".join(f"{c.name}: " + "/".join(sorted({str(r["tls"]) for r in records if r["contender"] == c.name}))
                    for c in contenders)
    rows = h2_summary(load.records)
    memory = "- RSS over the HTTP/2 runs (VmRSS idle → after each run; VmHWM at the end): " + "; ".join(
        f"{c.name} {mib(idle_rss[c.name])} → " + " / ".join(mib(r["server_rss_kb"]) for r in records if r["contender"] == c.name)
        + (f"; VmHWM {mib(rss_kb(c.proc.pid)[1])}" if alive(c.proc) else "; **process died**") for c in contenders)
    lines = ["", f"HTTP/2 over TLS (--h2): h2load {h2load_version()} (-t1, -m {h2.streams}) on core {s.client_cpu},"
             f" servers on core {s.server_cpu}; TLS as negotiated with h2load ({tls}), self-signed P-256"
             f" certificate. HAProxy {haproxy_version}: the same config and jwt_verify rules with"
             " `bind … ssl crt … alpn h2,http/1.1`; the gateway: the same config with tls_cert_file, tls_key_file,"
             " http2 = true. Both forward HTTP/1.1 keep-alive to the same nginx upstream. Each cell: median of"
             f" {s.repeats} run(s) of {s.duration} after h2load's own {s.warmup} warm-up (connections and TLS handshakes"
             " outside the measured phase; CPU read at its start and end), interleaved; p50/p99 from h2load's"
             " per-request log, mean and max from its summary (max: over the repeats). A row is INVALID when the"
             " pre-check over HTTP/2 was not 200, h2load saw non-2xx, failed requests or another protocol than h2,"
             " or the contender failed the token checks below.",
             "", *h2_table(rows), "", *thread_lines(rows, (H2_GATEWAY,), H2_HAPROXY), memory]
    if GATEWAY in binaries:
        lines.append(h2_log_line(work))
    return lines + ["", "Token checks over HTTP/2 (curl --http2 over TLS; status codes):", "", *check_lines]


def h2load_version():
    m = re.search(r"nghttp2/(\S+)", output_of(["h2load", "--version"]))
    return m.group(1) if m else "?"


# ---------------------------------------------------------------- the bench

def token_checks(contenders, key, token, status=status_of):
    """HAProxy and the gateways must accept the valid token and reject the rest: a Markdown table
    and, per contender, whether every check passed. `status` makes one request (HTTP/1.1, or h2_status)."""
    cases = (("valid HS256 access token", token, "200"),
             ("no Authorization header", None, "401"),
             ("bad signature (other key)", mint(key, bad_key=True), "401"),
             ("header alg HS512, HS256 signature", mint(key, header_alg="HS512"), "401"),
             ("alg HS512 (correctly signed)", mint(key, alg="HS512"), "401"),
             ("alg none, empty signature", mint(key, alg="none"), "401"),
             ("expired (exp = now - 60s)", mint(key, exp_in=-60), "401"),
             ("token_type refresh", mint(key, token_type="refresh"), "401"))
    checked = [c for c in contenders if c.name not in (UPSTREAM, NGINX_PROXY, FLOOR)]
    lines = ["| token | expected | " + " | ".join(c.name for c in checked) + " |",
             "|---|---|" + "---|" * len(checked)]
    ok = {c.name: True for c in checked}
    for what, tok, want in cases:
        row = f"| {what} | {want} |"
        for c in checked:
            got = status(c.url, tok)
            row += f" {got} |" if got == want else f" **{got}** (FAIL) |"
            ok[c.name] = ok[c.name] and got == want
        lines.append(row)
    return lines, ok


def renewal_runs(s, work, load, gateways):
    """Log in to each gateway, let the 2 s access tokens expire, check that the gateways renew them,
    then load each gateway, interleaved, with its expired token: every request is renewed or handed
    its successor."""
    if not gateways:
        return ["- renewal: not run (BENCH_SKIP_GATEWAY=1)"]
    lines, logged_in, ready = [], [], []
    for g in gateways:
        expired, problem = login_token(g, work)
        if problem:
            lines.append(f"- renewal via {g.name}: not available ({problem})")
        else:
            logged_in.append((g, expired))
    if logged_in:
        log("renewal-heavy: waiting 3 s for the 2 s access tokens to expire")
        time.sleep(3)
    for g, expired in logged_in:
        status, has_token = renewed(g, expired)
        if status == "200" and has_token:
            ready.append((g, expired))
        else:
            lines.append(f"- renewal via {g.name}: not available (expired token got status {status}"
                         f"{'' if has_token else ', no X-Access-Token'})")
    for n in s.connections:
        for rep in range(1, s.repeats + 1):
            for g, expired in ready:
                load.run(g, n, rep, "renewal", expired)
    lines += renewal_lines(summarize(load.records, "main"), summarize(load.records, "renewal"))
    for g, expired in ready:
        status, has_token = renewed(g, expired)
        lines.append(f"- renewal via {g.name} after the runs: the same expired token still gets {status}"
                     + (" with X-Access-Token" if has_token else " WITHOUT X-Access-Token"))
    return lines


def login_token(gateway, work):
    """(the access token of a fresh login, None) or (None, why there is none)."""
    if not alive(gateway.proc):
        return None, "gateway process died"
    log(f"renewal-heavy: logging in to {gateway.name}")
    try:
        status, _, body = request(gateway.base + "/auth/login", method="POST",
                                  body=json.dumps({"username": "bench", "password": "bench"}))
    except OSError:
        status, body = "000", b""
    write(os.path.join(gateway_dir(work, gateway.name), "login.json"), body.decode(errors="replace"))
    if status == 201:
        try:
            return json.loads(body)["token"]["access"], None
        except (ValueError, KeyError, TypeError):
            pass
    return None, f"POST /auth/login answered {status}, expected 201 with token.access"


def renewed(gateway, expired):
    """The status an expired token gets, as text, and whether the answer carries its successor."""
    try:
        status, headers, _ = request(gateway.url, expired)
        return str(status), headers.get("X-Access-Token") is not None
    except OSError:
        return "000", False


def start_contenders(s, servers, binaries, haproxy_version, more=()):
    """The servers under test, started and listening, in the order they are measured; `more`: (name, what, start)
    after HAProxy."""
    def contender(name, what, start):
        log(f"starting {what} on 127.0.0.1:{s.ports[name]} (cpu {s.server_cpu})")
        return Contender(name, f"http://127.0.0.1:{s.ports[name]}", start())
    contenders = [
        contender(UPSTREAM, "nginx upstream", lambda: servers.start_nginx("nginx-up", s.ports[UPSTREAM], "nginx upstream")),
        contender(NGINX_PROXY, "nginx proxy", lambda: servers.start_nginx("nginx-proxy", s.ports[NGINX_PROXY], "nginx proxy")),
        contender(HAPROXY, f"HAProxy {haproxy_version}", lambda: servers.start_haproxy(s.ports[HAPROXY]))]
    contenders += [contender(name, what, start) for name, what, start in more]
    for name, binary in binaries.items():
        contenders.append(contender(name, name, lambda: servers.start_gateway(name, binary, s.ports[name])))
    return contenders


def rss_line(by_name, idle_rss):
    """Peak RSS (VmHWM) of every server; nginx: its worker process."""
    hwm = lambda pid: mib(rss_kb(pid)[1]) if pid else "n/a"
    line = (f"- peak RSS (VmHWM) after the valid-token load: nginx upstream worker {hwm(nginx_worker(by_name[UPSTREAM].proc.pid))},"
            f" nginx proxy worker {hwm(nginx_worker(by_name[NGINX_PROXY].proc.pid))}, HAProxy {hwm(by_name[HAPROXY].proc.pid)}")
    for name in (GATEWAY, BASELINE):
        gateway = by_name.get(name)
        if gateway and alive(gateway.proc):
            line += f", **{name} {hwm(gateway.proc.pid)}** (idle after start: {mib(idle_rss[name])})"
        elif gateway:
            line += f", {name}: process died during the load runs"
    return line


def streaming(s, work, token, streamed, big):
    """Each contender streams the big file `repeats` times, interleaved; a line each with the median.
    The file is read once first, so that no contender pays for filling the page cache (the first one
    did: the upstream alone measured ~240 MB/s, the proxies in front of it after it ~600)."""
    gateway = next((c for c in streamed if c.name == GATEWAY), None)
    log(f"streaming {s.stream_size} × {s.repeats}: " + ", ".join(
        {UPSTREAM: "upstream alone", HAPROXY: "HAProxy", GATEWAY: "auth-gateway"}[c.name] for c in streamed))
    with open(big, "rb") as f:
        while f.read(1 << 20):
            pass
    if gateway and alive(gateway.proc) and not reset_hwm(gateway.proc.pid):
        log("could not reset VmHWM; the stream's peak RSS includes earlier load")
    results = {c.name: [] for c in streamed}
    for rep in range(1, s.repeats + 1):
        for c in streamed:
            if c is gateway and not alive(c.proc):
                continue
            out = os.path.join(work, f"stream-{slug(c.name)}-r{rep}.json")
            results[c.name].append(stream(c.base + "/big", token, s.client_cpu, c.proc if c is gateway else None, out))
    size = os.stat(big).st_size
    lines = [stream_line(c.name, results[c.name], size) for c in streamed if c is not gateway or alive(c.proc)]
    if gateway and not alive(gateway.proc):
        lines.append("- stream via auth-gateway: not run (gateway process died)")
    return lines


def report_header(s, tools, loadavg):
    model = next((line.split(":", 1)[1].strip() for line in read_text("/proc/cpuinfo").splitlines()
                  if line.startswith("model name")), "")
    return [
        f"# auth-gateway bench — {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        "",
        f"Machine: {os.cpu_count()} cores ({model}), kernel {os.uname().release}; load average before the run: {loadavg}.",
        f"Servers pinned to core {s.server_cpu} (taskset), wrk/curl on core {s.client_cpu}. nginx {tools['nginx']} (1 worker),"
        f" HAProxy {tools['haproxy']} (nbthread 1), wrk {tools['wrk']} (-t1). Keep-alive everywhere, also to the upstream.",
        f"Each cell: median of {s.repeats} run(s) of {s.duration} after a {s.warmup} warm-up, contenders interleaved;"
        f" request: GET {PATH_UNDER_TEST} with `Authorization: Bearer <HS256 access token>` (ignored by the upstream and nginx).",
        "HAProxy checks: jwt_verify HS256 signature, header alg = HS256, token_type = access, exp > now (not iss).",
        "Ratios compare median req/s. A row is INVALID when a pre-check curl was not 200, wrk saw non-2xx/3xx responses,"
        " or the contender failed the token checks below."] + (
        [f"Baseline: {BASELINE} is `{s.baseline_bin}`, from the same gateway.conf.in on its own port and database."]
        if s.baseline_bin else [])


def bench(s, work, servers, h2=None):
    """The whole run; with `h2` (--h2, H2Settings), the HTTP/2 section after the rest."""
    tools = versions()
    count_syscalls = perf_counts_syscalls()
    loadavg = " ".join(read_text("/proc/loadavg").split()[:3])
    # raise the fd limit as far as allowed (256 connections + upstream pools); the servers inherit it
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        pass
    for sub in ("wrk", "nginx-up/tmp", "nginx-proxy/tmp", "haproxy", "checks"):
        os.makedirs(os.path.join(work, sub), exist_ok=True)
    log(f"work dir: {work}")
    busy = ports_busy(list(s.ports.values()) + (list(h2.ports.values()) if h2 else []))
    if busy:
        raise BenchError(f"a bench port is busy (set BENCH_PORT_BASE to use other ports): {', '.join(busy)}")
    binaries = gateway_binaries(s, work)

    key = write_secret(os.path.join(work, "secret.key"))
    token = mint(key)
    write(os.path.join(work, "token.txt"), token + "\n")
    big = os.path.join(work, "big.bin")
    if subprocess.run(["truncate", "-s", s.stream_size, big]).returncode != 0:
        raise BenchError(f"truncate -s {s.stream_size} failed (BENCH_STREAM_SIZE)")
    write_configs(work, s.ports, key, binaries)
    if h2:
        h2_prepare(work, h2, template_values(work, s.ports, key), binaries)

    floor = FloorAndNjs(s, work, servers, key, token)
    contenders = start_contenders(s, servers, binaries, tools["haproxy"], floor.prepare(binaries.get(GATEWAY)))
    by_name = {c.name: c for c in contenders}
    gateway = by_name.get(GATEWAY)
    gateways = [c for c in contenders if c.name in binaries]
    idle_rss = {}
    if gateways:
        time.sleep(0.5)
        idle_rss = {g.name: rss_kb(g.proc.pid)[0] for g in gateways}

    log("token checks (HAProxy must reject bad signature, wrong alg, expired, wrong token_type):")
    check_lines, auth_ok = token_checks(contenders, key, token)
    write(os.path.join(work, "checks/token-checks.md"), "\n".join(check_lines) + "\n")
    print("\n".join(check_lines), file=sys.stderr)
    for c in contenders:
        if not auth_ok.get(c.name, True):
            what = "HAProxy's" if c.name == HAPROXY else f"{c.name}'s"
            log(f"WARNING: {what} token checks failed: its rows are marked INVALID")

    load = LoadRuns(s, work, count_syscalls, auth_ok)
    total = len(s.connections) * s.repeats * len(contenders)
    log(f"load: {len(contenders)} contenders × {s.repeats} repeats × connections "
        f"[{' '.join(map(str, s.connections))}]: {total} runs of {s.duration} (+{s.warmup} warm-up)")
    for n in s.connections:
        for rep in range(1, s.repeats + 1):
            for c in contenders:
                load.run(c, n, rep, "main", token)

    memory = rss_line(by_name, idle_rss)
    renewal = renewal_runs(s, work, load, gateways)
    for g in gateways:
        if alive(g.proc) and any(r["group"] == "renewal" and r["contender"] == g.name for r in load.records):
            memory += f"; {g.name} VmHWM after the renewal runs: {mib(rss_kb(g.proc.pid)[1])}"
    streamed = [c for c in contenders if c.name not in (NGINX_PROXY, BASELINE, FLOOR, NJS)]
    main_rows = summarize(load.records, "main")
    report = [*report_header(s, tools, loadavg),
              "", *results_table(main_rows), "", *baseline_lines(main_rows), *thread_lines(main_rows),
              *cpu_lines(main_rows), *floor.lines(main_rows), "",
              "Token checks (status codes; one curl each):", "", *check_lines, "",
              *renewal, memory, *streaming(s, work, token, streamed, big)]
    if h2:
        report += h2_section(s, h2, work, servers, binaries, load, key, token, tools["haproxy"])
    if not gateway:
        report += ["", "auth-gateway rows skipped (BENCH_SKIP_GATEWAY=1)."]
    results_md = os.path.join(work, "results.md")
    write(results_md, "\n".join(report) + "\n")
    log(f"done: {results_md}")
    print("\n".join(report), flush=True)


def main():
    ap = argparse.ArgumentParser(prog="scripts/bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter, usage=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--h2", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    # SIGTERM unwinds like Ctrl-C does, so that the servers are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work, servers, rc = None, None, 0
    try:
        s = Settings.read(os.environ, args.quick)
        h2 = H2Settings.read(os.environ, args.quick, s) if args.h2 else None
        ensure_tools(s.no_install, TOOLS + FLOOR_TOOLS + (H2_TOOLS if h2 else ()))
        if (os.cpu_count() or 1) < 2:
            raise BenchError(f"need at least 2 cores (have {os.cpu_count()}): servers and load generator get one each")
        if s.server_cpu == s.client_cpu:
            raise BenchError("BENCH_SERVER_CPU and BENCH_CLIENT_CPU must differ")
        work = os.path.abspath(s.out or os.path.join(ROOT, "bench-results", time.strftime("run-%Y%m%d-%H%M%S")))
        os.makedirs(work, exist_ok=True)
        servers = Servers(s.server_cpu, work)
        bench(s, work, servers, h2)
    except BenchError as e:
        log(f"ERROR: {e}")
        rc = 1
    except KeyboardInterrupt:
        rc = 130
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else 1
    except Exception:
        rc = 1  # a bug: the traceback follows the cleanup
        raise
    finally:
        if servers:
            servers.stop_all()
        if work:
            try:
                os.remove(os.path.join(work, "big.bin"))
            except OSError:
                pass
            if rc != 0:
                log(f"exit status {rc}; logs in {work}")
    sys.exit(rc)


if __name__ == "__main__":
    main()
