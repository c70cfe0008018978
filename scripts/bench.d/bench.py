#!/usr/bin/env python3
"""Helpers for scripts/bench: secrets, JWT minting, wrk parsing, the results table,
RSS sampling and the streaming download. Python 3 stdlib only.

Subcommands (all print to stdout; diagnostics go to stderr):
  ports-free PORT...                      exit 1 (listing them) if any loopback port is taken
  secret FILE                             write 64 random bytes as base64url text (mode 0600)
  mint --key-file F [options]             print an HS* JWT (see --help)
  json-get POINTER [FILE]                 print the value at a JSON pointer (stdin if no FILE)
  parse-wrk FILE                          print wrk --latency output as one JSON object
  record --out JSONL --contender NAME --conns N --rep N --wrk FILE [--precheck STATUS]
  table --runs JSONL [--group main]       print the Markdown results table (ratios: median req/s)
  renewal-lines --runs JSONL              print the renewal-heavy summary lines
  rss PID                                 print "VmRSS_kB VmHWM_kB" of a process
  reset-hwm PID                           reset VmHWM (echo 5 > /proc/PID/clear_refs); exit 1 if not possible
  stream --url URL [--token T] [--pid PID] [--cpu N]
                                          download URL with curl (pinned to CPU N) to /dev/null
                                          while sampling PID's RSS; print one JSON object
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import time


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def read_key(path: str) -> bytes:
    # Same rule as the gateway (SPEC §2): the file's content minus one trailing newline;
    # the text bytes themselves are the HMAC key (not base64-decoded).
    with open(path, "rb") as f:
        data = f.read()
    if data.endswith(b"\n"):
        data = data[:-1]
    return data


# ---------------------------------------------------------------- ports / secret

def cmd_ports_free(args):
    busy = []
    for p in args.ports:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # SO_REUSEADDR like nginx/haproxy do: TIME_WAIT leftovers are not "busy", a listener is.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", int(p)))
        except OSError as e:
            busy.append(f"127.0.0.1:{p} ({e.strerror})")
        finally:
            s.close()
    if busy:
        print("ports in use: " + ", ".join(busy), file=sys.stderr)
        sys.exit(1)


def cmd_secret(args):
    text = b64url(secrets.token_bytes(64))
    fd = os.open(args.file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")


# ---------------------------------------------------------------- JWT

HASHES = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def cmd_mint(args):
    key = read_key(args.key_file)
    if args.bad_key:
        key = secrets.token_urlsafe(64).encode()
    now = int(time.time())
    header = {"alg": args.header_alg or args.alg, "typ": "JWT"}
    claims = {
        "token_type": args.token_type,
        "exp": now + args.exp_in,
        "iat": now if args.exp_in > 0 else now + args.exp_in - 60,
        "jti": secrets.token_hex(16),
        "iss": args.iss,
        "sub": "1",
        "user_id": 1,
        "sid": args.sid or secrets.token_hex(16),
    }
    signing_input = b64url(json.dumps(header, separators=(",", ":")).encode()) + "." + \
        b64url(json.dumps(claims, separators=(",", ":")).encode())
    if args.alg == "none":
        sig = ""
    else:
        sig = b64url(hmac.new(key, signing_input.encode("ascii"), HASHES[args.alg]).digest())
    print(signing_input + "." + sig)


def cmd_json_get(args):
    data = json.load(open(args.file) if args.file else sys.stdin)
    for part in [p for p in args.pointer.split("/")[1:]]:
        part = part.replace("~1", "/").replace("~0", "~")
        data = data[int(part)] if isinstance(data, list) else data[part]
    print(data if isinstance(data, str) else json.dumps(data))


# ---------------------------------------------------------------- wrk

UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}
SUFFIX = {"": 1, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9}


def parse_wrk(text: str) -> dict:
    out = {"rps": None, "p50_ms": None, "p99_ms": None, "non2xx": 0, "socket_errors": 0,
           "requests": None}
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


def cmd_parse_wrk(args):
    print(json.dumps(parse_wrk(open(args.file).read())))


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


def process_tree_ticks(pid):
    """(utime, stime) clock ticks of a process and its children."""
    user = system = 0
    for p in process_tree_pids(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                u, k = stat_ticks_split(f.read())
        except (OSError, IndexError, ValueError):
            continue
        user, system = user + u, system + k
    return user, system


def stat_ticks_split(stat):
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])  # utime, stime: fields 14 and 15 of stat(5)


def stat_ticks(stat):
    return sum(stat_ticks_split(stat))


# The gateway's threads by the names it gives them: SwiftNIO's event loops and the libcurl transport.
THREAD_GROUPS = (("NIO-ELT-", "event loop"), ("curl-", "libcurl transport"))


def thread_ticks(pid):
    """utime + stime per thread group of one process (see THREAD_GROUPS; the rest is "other")."""
    groups = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return groups
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                comm = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                ticks = stat_ticks(f.read())
        except (OSError, IndexError, ValueError):
            continue
        name = next((g for prefix, g in THREAD_GROUPS if comm.startswith(prefix)), "other")
        groups[name] = groups.get(name, 0) + ticks
    return groups


def cmd_tree_pids(args):
    print(",".join(process_tree_pids(args.pid)))


def cmd_cpu_ticks(args):
    """JSON: the process tree's total ticks and, with --threads, the process's own by thread group."""
    user, system = process_tree_ticks(args.pid)
    out = {"total": user + system, "user": user, "sys": system}
    if args.threads:
        out["threads"] = thread_ticks(args.pid)
    print(json.dumps(out, separators=(",", ":")))


def cmd_record(args):
    try:
        text = open(args.wrk).read()
    except OSError:
        text = ""
    rec = parse_wrk(text)
    rec.update({"contender": args.contender, "conns": args.conns, "rep": args.rep,
                "group": args.group, "precheck": args.precheck, "wrk_file": args.wrk})
    # CPU time the contender's own processes spent per request: steadier than req/s on a shared machine.
    rec["cpu_us_per_req"] = None
    rec["cpu_threads_us_per_req"] = None
    if args.cpu_before and args.cpu_after and rec["requests"]:
        before, after = json.loads(args.cpu_before), json.loads(args.cpu_after)
        per_req = lambda ticks: ticks * 1e6 / os.sysconf("SC_CLK_TCK") / rec["requests"]
        rec["cpu_us_per_req"] = per_req(after["total"] - before["total"])
        for part in ("user", "sys"):
            if part in after and part in before:
                rec[f"cpu_{part}_us_per_req"] = per_req(after[part] - before[part])
    rec["syscalls_per_req"] = None
    if args.syscalls and rec["requests"]:
        rec["syscalls_per_req"] = int(args.syscalls) / rec["requests"]
        if "threads" in after:
            rec["cpu_threads_us_per_req"] = {
                g: per_req(t - before.get("threads", {}).get(g, 0)) for g, t in after["threads"].items()}
    with open(args.out, "a") as f:
        f.write(json.dumps(rec) + "\n")
    status = "ok"
    if rec["rps"] is None:
        status = "wrk produced no result"
    elif rec["non2xx"]:
        status = f"INVALID: {rec['non2xx']} non-2xx/3xx"
    elif args.precheck != "200":
        status = f"INVALID: precheck status {args.precheck}"
    fmt = lambda v: "-" if v is None else f"{v:.2f}"
    print(f"  {args.contender:<22} c={args.conns:<4} rep {args.rep}: "
          f"{fmt(rec['rps'])} req/s, p50 {fmt(rec['p50_ms'])} ms, p99 {fmt(rec['p99_ms'])} ms,"
          f" CPU {fmt(rec['cpu_us_per_req'])} µs/req"
          f"{'' if not rec['socket_errors'] else ', socket errors: ' + rec['socket_errors_detail']}"
          f" [{status}]", file=sys.stderr)


def load_runs(path):
    runs = []
    if os.path.exists(path):
        with open(path) as f:
            runs = [json.loads(line) for line in f if line.strip()]
    return runs


def median_of(runs, key):
    """The median of `key` over the runs that have it (None when none has)."""
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def summarize(runs, group):
    """(contender, conns) -> dict(rps, p50, p99, n, problems) using the median of the repeats."""
    order, summary = [], {}
    for r in runs:
        if r.get("group", "main") != group:
            continue
        k = (r["contender"], r["conns"])
        if k not in summary:
            order.append(k)
            summary[k] = {"runs": []}
        summary[k]["runs"].append(r)
    for k, s in summary.items():
        rs = s["runs"]
        good = [r for r in rs if r["rps"] is not None]
        med = lambda key: median_of(good, key)
        problems = []
        non2xx = sum(r["non2xx"] for r in rs)
        if non2xx:
            problems.append(f"{non2xx} non-2xx/3xx")
        bad_pre = sorted({r["precheck"] for r in rs if r.get("precheck") not in (None, "200")})
        if bad_pre:
            problems.append("precheck status " + "/".join(bad_pre))
        if len(good) < len(rs):
            problems.append(f"{len(rs) - len(good)} run(s) without result")
        sockerr = sum(r["socket_errors"] for r in rs)
        s.update({"rps": med("rps"), "p50": med("p50_ms"), "p99": med("p99_ms"), "cpu": med("cpu_us_per_req"),
                  "cpu_user": med("cpu_user_us_per_req"), "cpu_sys": med("cpu_sys_us_per_req"),
                  "syscalls": med("syscalls_per_req"),
                  "n": len(good), "problems": problems, "socket_errors": sockerr,
                  "all_rps": [r["rps"] for r in good]})
    return order, summary


def refs(runs, upstream_name, haproxy_name):
    """Median req/s of the upstream and of HAProxy per connection count (main group, valid only)."""
    _, summary = summarize(runs, "main")
    ref_up, ref_ha = {}, {}
    for (c, n), s in summary.items():
        if s["problems"] or s["rps"] is None:
            continue
        if c == upstream_name:
            ref_up[n] = s["rps"]
        if c == haproxy_name:
            ref_ha[n] = s["rps"]
            ref_ha[("cpu", n)] = s.get("cpu")
    return ref_up, ref_ha


def fmt(v, d=2):
    return "–" if v is None else f"{v:,.{d}f}"


def ratio(a, b):
    return "–" if (a is None or not b) else f"{a / b:.2f}"


def cmd_table(args):
    runs = load_runs(args.runs)
    order, summary = summarize(runs, args.group)
    ref_up, ref_ha = refs(runs, args.upstream_name, args.haproxy_name)
    lines = ["| contender | conns | req/s (median) | p50 ms | p99 ms | × upstream | × HAProxy | CPU µs/req | CPU × HAProxy | repeats (req/s) | notes |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for k in sorted(order, key=lambda k: (k[1], order.index(k))):
        c, n = k
        s = summary[k]
        notes = list(s["problems"])
        if s["socket_errors"]:
            notes.append(f"{s['socket_errors']} socket errors")
        valid = not s["problems"] and s["rps"] is not None
        name = c if valid else f"{c} **INVALID**"
        lines.append("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
            name, n, fmt(s["rps"], 0), fmt(s["p50"]), fmt(s["p99"]),
            ratio(s["rps"], ref_up.get(n)) if valid else "–",
            ratio(s["rps"], ref_ha.get(n)) if valid else "–",
            fmt(s["cpu"], 1), ratio(s["cpu"], ref_ha.get(("cpu", n))) if valid else "–",
            " / ".join(f"{x:,.0f}" for x in s["all_rps"]) or "–",
            "; ".join(notes)))
    print("\n".join(lines))


def cmd_renewal_lines(args):
    """One line per connection count for the renewal-heavy group, compared with the gateway's
    valid-token row, the upstream and HAProxy."""
    runs = load_runs(args.runs)
    order, summary = summarize(runs, "renewal")
    _, main = summarize(runs, "main")
    ref_up, ref_ha = refs(runs, args.upstream_name, args.haproxy_name)
    for k in order:
        c, n = k
        s = summary[k]
        gw = main.get((args.gateway_name, n))
        gw_rps = gw["rps"] if gw and not gw["problems"] else None
        valid = not s["problems"] and s["rps"] is not None
        line = (f"- renewal-heavy (every request carries an expired, renewable token), {n} connections: "
                f"{fmt(s['rps'], 0)} req/s, p50 {fmt(s['p50'])} ms, p99 {fmt(s['p99'])} ms, CPU {fmt(s['cpu'], 1)} µs/req")
        if valid:
            line += (f"; × gateway valid-token {ratio(s['rps'], gw_rps)}, × upstream {ratio(s['rps'], ref_up.get(n))},"
                     f" × HAProxy {ratio(s['rps'], ref_ha.get(n))}")
        else:
            line += " — **INVALID**: " + "; ".join(s["problems"] or ["no result"])
        line += " (repeats: " + (" / ".join(f"{x:,.0f}" for x in s["all_rps"]) or "–") + ")"
        print(line)


def cmd_thread_lines(args):
    """Where the gateway's CPU per request goes, by thread, next to HAProxy's whole process."""
    runs = load_runs(args.runs)
    _, main = summarize(runs, "main")
    for (c, n), s in main.items():
        if c != args.gateway_name:
            continue
        per = [r["cpu_threads_us_per_req"] for r in s["runs"] if r.get("cpu_threads_us_per_req")]
        if not per:
            continue
        names = sorted({g for p in per for g in p}, key=lambda g: (g == "other", g))
        parts = [f"{g} {statistics.median([p.get(g, 0) for p in per]):.1f}" for g in names]
        ha = main.get((args.haproxy_name, n))
        line = f"- auth-gateway CPU by thread, {n} connections (median µs/req): " + ", ".join(parts)
        if ha and ha["cpu"] is not None:
            line += f"; HAProxy's whole process {ha['cpu']:.1f}"
        print(line)


def cmd_cpu_lines(args):
    """Every contender's CPU per request split into user space and kernel, and its system calls per request."""
    runs = load_runs(args.runs)
    _, main = summarize(runs, "main")
    for n in sorted({n for (_, n) in main}):
        parts = []
        for (c, m), s in main.items():
            if m != n:
                continue
            user, system, calls = s["cpu_user"], s["cpu_sys"], s["syscalls"]
            if user is None or system is None:
                continue
            part = f"{c} {user:.1f} + {system:.1f}"
            if calls is not None:
                part += f" ({calls:.1f} syscalls)"
            parts.append(part)
        if parts:
            print(f"- CPU per request, user space + kernel (median µs; system calls per request), {n} connections: "
                  + "; ".join(parts))


# ---------------------------------------------------------------- RSS / stream

def rss(pid):
    vals = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    k, v = line.split(":", 1)
                    vals[k] = int(v.split()[0])
    except OSError:
        return None, None
    return vals.get("VmRSS"), vals.get("VmHWM")


def cmd_rss(args):
    r, h = rss(args.pid)
    if r is None:
        sys.exit(1)
    print(r, h)


def cmd_reset_hwm(args):
    try:
        with open(f"/proc/{args.pid}/clear_refs", "w") as f:
            f.write("5")
    except OSError as e:
        print(f"cannot reset VmHWM of {args.pid}: {e}", file=sys.stderr)
        sys.exit(1)


def cmd_stream(args):
    cmd = ["curl", "-sS", "-o", "/dev/null", "--max-time", str(args.max_time),
           "-w", "%{http_code} %{size_download} %{speed_download} %{time_total}"]
    if args.token:
        cmd += ["-H", "Authorization: Bearer " + args.token]
    cmd.append(args.url)
    if args.cpu is not None:
        cmd = ["taskset", "-c", str(args.cpu)] + cmd
    peak = 0
    start = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while p.poll() is None:
        if args.pid:
            r, _ = rss(args.pid)
            if r is not None:
                peak = max(peak, r)
        time.sleep(0.02)
    out, err = p.communicate()
    elapsed = time.monotonic() - start
    res = {"curl_exit": p.returncode, "curl_stderr": err.strip(), "elapsed_s": elapsed}
    parts = out.split()
    if len(parts) == 4:
        res.update({"http_code": parts[0], "bytes": int(parts[1]),
                    "speed_MBps": float(parts[2]) / 1e6, "time_s": float(parts[3])})
    if args.pid:
        r, h = rss(args.pid)
        res.update({"sampled_peak_rss_kb": peak or None, "rss_after_kb": r, "hwm_after_kb": h})
    print(json.dumps(res))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("ports-free"); p.add_argument("ports", nargs="+"); p.set_defaults(f=cmd_ports_free)
    p = sub.add_parser("secret"); p.add_argument("file"); p.set_defaults(f=cmd_secret)

    p = sub.add_parser("mint", help="mint an HS* JWT")
    p.add_argument("--key-file", required=True)
    p.add_argument("--alg", default="HS256", help="signing algorithm: HS256/HS384/HS512/none")
    p.add_argument("--header-alg", help="lie in the header's alg (default: --alg)")
    p.add_argument("--exp-in", type=int, default=3600, help="exp = now + this (negative = expired)")
    p.add_argument("--token-type", default="access")
    p.add_argument("--iss", default="auth-gateway")
    p.add_argument("--sid")
    p.add_argument("--bad-key", action="store_true", help="sign with a random other key")
    p.set_defaults(f=cmd_mint)

    p = sub.add_parser("json-get"); p.add_argument("pointer"); p.add_argument("file", nargs="?")
    p.set_defaults(f=cmd_json_get)
    p = sub.add_parser("parse-wrk"); p.add_argument("file"); p.set_defaults(f=cmd_parse_wrk)

    p = sub.add_parser("tree-pids", help="a process and its children, comma-separated")
    p.add_argument("pid", type=int)
    p.set_defaults(f=cmd_tree_pids)

    p = sub.add_parser("cpu-ticks", help="utime+stime ticks of a process and its children (JSON)")
    p.add_argument("pid", type=int)
    p.add_argument("--threads", action="store_true", help="also the process's own ticks by thread group")
    p.set_defaults(f=cmd_cpu_ticks)

    p = sub.add_parser("record")
    p.add_argument("--out", required=True); p.add_argument("--contender", required=True)
    p.add_argument("--conns", type=int, required=True); p.add_argument("--rep", type=int, required=True)
    p.add_argument("--wrk", required=True); p.add_argument("--precheck", default="200")
    p.add_argument("--group", default="main")
    p.add_argument("--cpu-before", help="`cpu-ticks` of the contender before the measured run")
    p.add_argument("--cpu-after", help="`cpu-ticks` of the contender after the measured run")
    p.add_argument("--syscalls", help="system calls the contender's processes made during the measured run")
    p.set_defaults(f=cmd_record)

    p = sub.add_parser("table")
    p.add_argument("--runs", required=True); p.add_argument("--group", default="main")
    p.add_argument("--upstream-name", default="nginx upstream alone")
    p.add_argument("--haproxy-name", default="HAProxy 2.6 jwt_verify")
    p.set_defaults(f=cmd_table)

    p = sub.add_parser("renewal-lines")
    p.add_argument("--runs", required=True)
    p.add_argument("--upstream-name", default="nginx upstream alone")
    p.add_argument("--haproxy-name", default="HAProxy 2.6 jwt_verify")
    p.add_argument("--gateway-name", default="auth-gateway (required)")
    p.set_defaults(f=cmd_renewal_lines)

    p = sub.add_parser("thread-lines")
    p.add_argument("--runs", required=True)
    p.add_argument("--haproxy-name", default="HAProxy 2.6 jwt_verify")
    p.add_argument("--gateway-name", default="auth-gateway (required)")
    p.set_defaults(f=cmd_thread_lines)

    p = sub.add_parser("cpu-lines")
    p.add_argument("--runs", required=True)
    p.set_defaults(f=cmd_cpu_lines)

    p = sub.add_parser("rss"); p.add_argument("pid"); p.set_defaults(f=cmd_rss)
    p = sub.add_parser("reset-hwm"); p.add_argument("pid"); p.set_defaults(f=cmd_reset_hwm)

    p = sub.add_parser("stream")
    p.add_argument("--url", required=True); p.add_argument("--token")
    p.add_argument("--pid"); p.add_argument("--cpu")
    p.add_argument("--max-time", type=int, default=600)
    p.set_defaults(f=cmd_stream)

    args = ap.parse_args()
    args.f(args)


if __name__ == "__main__":
    main()
