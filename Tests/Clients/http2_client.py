"""HTTP/2 clients for the integration tests (HTTP2Tests.swift): real third-party HTTP/2 stacks, not frames we wrote.

  requests URL [--cafile F] [--concurrent]   httpx (http2=True, one connection); requests as JSON on stdin:
                                              [{"method", "path", "headers": [[name, value]], "body"}]
                                              prints [{"status", "version", "headers", "body"}] (or {"error"})
  settings URL [--cafile F]                   the h2 library: the server's SETTINGS as JSON

URL is https://host:port (ALPN h2, certificate checked against --cafile) or http://host:port (h2c, prior knowledge).
"""
import argparse
import asyncio
import json
import socket
import ssl
import sys
from urllib.parse import urlsplit


def tls_context(cafile):
    context = ssl.create_default_context(cafile=cafile)
    context.set_alpn_protocols(["h2"])
    return context


async def run_requests(url, cafile, concurrent):
    import httpx

    specs = json.load(sys.stdin)
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    verify = tls_context(cafile) if cafile else False
    async with httpx.AsyncClient(http1=False, http2=True, verify=verify, limits=limits, timeout=30) as client:
        async def one(spec):
            try:
                response = await client.request(spec.get("method", "GET"), url + spec["path"],
                                                headers=[tuple(h) for h in spec.get("headers", [])],
                                                content=spec.get("body"))
                return {"status": response.status_code, "version": response.http_version,
                        "headers": [[k.decode(), v.decode()] for k, v in response.headers.raw],
                        "body": response.text}
            except Exception as error:  # the test reads the failure instead of a traceback
                return {"error": f"{type(error).__name__}: {error}"}

        if concurrent:
            results = await asyncio.gather(*(one(spec) for spec in specs))
        else:
            results = [await one(spec) for spec in specs]
    print(json.dumps(results))


def open_h2(url, cafile):
    import h2.config
    import h2.connection

    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=20)
    if parts.scheme == "https":
        sock = tls_context(cafile).wrap_socket(sock, server_hostname=parts.hostname)
        if sock.selected_alpn_protocol() != "h2":
            raise SystemExit(f"ALPN chose {sock.selected_alpn_protocol()!r}, not h2")
    connection = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    connection.initiate_connection()
    sock.sendall(connection.data_to_send())
    return parts, sock, connection


def settings(url, cafile):
    import h2.events

    _, sock, connection = open_h2(url, cafile)
    while True:
        data = sock.recv(65536)
        if not data:
            raise SystemExit("connection closed before SETTINGS")
        for event in connection.receive_data(data):
            if isinstance(event, h2.events.RemoteSettingsChanged):
                print(json.dumps({setting.name.lower(): change.new_value
                                  for setting, change in event.changed_settings.items()}))
                return
        sock.sendall(connection.data_to_send())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["requests", "settings"])
    parser.add_argument("url")
    parser.add_argument("--cafile")
    parser.add_argument("--concurrent", action="store_true")
    args = parser.parse_args()
    if args.command == "requests":
        asyncio.run(run_requests(args.url, args.cafile, args.concurrent))
    else:
        settings(args.url, args.cafile)


if __name__ == "__main__":
    main()
