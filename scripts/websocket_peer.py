#!/usr/bin/env python3
"""Both ends of a WebSocket for the gateway's tests and scripts/bench-websocket (docs/http.md#websocket), with the
`websockets` library (scripts/setup --tests installs it).

  websocket_peer.py server [--tls DIR]
                                      an echo upstream on 127.0.0.1, port 0; prints its port, then a JSON line per
                                      tunnel opened ({"opened": path}) and closed ({"closed": path}); serves until
                                      killed. --tls: wss, with DIR/cert.pem and DIR/key.pem.
                                      Paths (matched on their end, so any route prefix works):
                                        .../headers          first sends the upgrade request's headers as JSON
                                        .../close-after-one  echoes one message, then closes (1000)
                                        .../refuse           answers 403 with a text body, no upgrade
                                        anything else        echoes every message
  websocket_peer.py client URL SCENARIO [--header NAME:VALUE]...
                                      one JSON object per line on stdout:
                                        echo   send "hello" and a 1 MiB binary message, check both come back
                                        hold   report the open tunnel, then wait until the other side closes it
                                        close  send one message, read it back, close the connection (1000)
                                        close-after-one  send one message, read it back, wait for the upstream's close
                                        stream:N  N messages of 1 MiB each way, 4 in flight, each checked
                                        flood:N   send up to N messages of 1 MiB reading nothing back, until a send
                                                  waits 3 s ({"event": "stalled", "sent": k}); then read the k
                                                  echoes back ({"event": "drained", ...})
                                      A refused upgrade prints {"status": N, "headers": {...}, "body": "..."}.
  websocket_peer.py bench URL SECONDS SIZE
                                      echo round trips of SIZE-byte messages for SECONDS, 16 in flight; prints
                                      {"messages": N, "seconds": S, "per_second": R}
"""
import asyncio
import hashlib
import json
import os
import ssl
import sys
import time

from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed, InvalidStatus


def emit(**fields):
    print(json.dumps(fields), flush=True)


async def serve_echo(tls_dir=None):
    async def handler(ws):
        path = ws.request.path.split("?")[0]
        emit(opened=path)
        try:
            if path.endswith("/headers"):
                await ws.send(json.dumps([[name, value] for name, value in ws.request.headers.raw_items()]))
            if path.endswith("/close-after-one"):
                await ws.send(await ws.recv())
                await ws.close(1000, "done")
                return
            async for message in ws:
                await ws.send(message)
        except ConnectionClosed:
            pass
        finally:
            emit(closed=path)

    def refuse(connection, request):
        if request.path.split("?")[0].endswith("/refuse"):
            return connection.respond(403, "refused by the upstream\n")
        return None

    context = None
    if tls_dir:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(os.path.join(tls_dir, "cert.pem"), os.path.join(tls_dir, "key.pem"))
    # A small queue: a client that reads nothing stalls the echo soon, and what it holds stays small.
    async with serve(handler, "127.0.0.1", 0, max_size=None, max_queue=4, compression=None, process_request=refuse,
                     ssl=context) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()


def refused(error):
    response = error.response
    emit(status=response.status_code, headers={k.lower(): v for k, v in response.headers.raw_items()},
         body=response.body.decode("utf-8", "replace"))


def opened(ws, **extra):
    response = ws.response
    emit(event="open", status=response.status_code,
         headers={k.lower(): v for k, v in response.headers.raw_items()}, **extra)


async def client(url, scenario, headers):
    try:
        # A flooding client reads nothing: what it queues unread is kept to one message.
        queue = 1 if scenario.startswith("flood:") else 16
        async with connect(url, additional_headers=headers, max_size=None, max_queue=queue, compression=None,
                           open_timeout=10, ping_interval=None) as ws:
            if url.split("?")[0].endswith("/headers"):
                upstream_saw = json.loads(await ws.recv())
            else:
                upstream_saw = None
            opened(ws, upstream_saw=upstream_saw)
            if scenario == "echo":
                await ws.send("hello")
                hello = await ws.recv()
                big = os.urandom(1 << 20)
                await ws.send(big)
                back = await asyncio.wait_for(ws.recv(), 30)
                emit(event="echo", hello=hello, sent=len(big), received=len(back),
                     intact=hashlib.sha256(back).hexdigest() == hashlib.sha256(big).hexdigest())
            elif scenario == "hold":
                started = time.monotonic()
                try:
                    while True:
                        await ws.recv()
                except ConnectionClosed as closed:
                    code = closed.rcvd.code if closed.rcvd else None
                    emit(event="closed", code=code, seconds=time.monotonic() - started)
            elif scenario == "close":
                await ws.send("bye")
                emit(event="echo", hello=await ws.recv())
                await ws.close(1000)
                emit(event="closed", code=ws.close_code)
            elif scenario.startswith("stream:"):
                count = int(scenario.split(":")[1])
                payloads = [os.urandom(1 << 20) for _ in range(4)]
                intact = True
                for i in range(min(4, count)):
                    await ws.send(payloads[i])
                for i in range(count):
                    back = await asyncio.wait_for(ws.recv(), 30)
                    intact = intact and back == payloads[i % 4]
                    if i + 4 < count:
                        await ws.send(payloads[i % 4])
                emit(event="stream", messages=count, intact=intact)
            elif scenario.startswith("flood:"):
                count = int(scenario.split(":")[1])
                payload = os.urandom(1 << 20)
                sent = 0
                try:
                    while sent < count:
                        await asyncio.wait_for(ws.send(payload), 3)
                        sent += 1
                    emit(event="flooded", sent=sent)
                except asyncio.TimeoutError:
                    # The message whose send timed out may be partly written: it is not counted, nor read back.
                    emit(event="stalled", sent=sent)
                received = 0
                intact = True
                try:
                    while received < sent:
                        back = await asyncio.wait_for(ws.recv(), 30)
                        intact = intact and back == payload
                        received += 1
                except (asyncio.TimeoutError, ConnectionClosed):
                    pass
                emit(event="drained", received=received, intact=intact)
            elif scenario == "close-after-one":
                await ws.send("one")
                emit(event="echo", hello=await ws.recv())
                try:
                    await asyncio.wait_for(ws.recv(), 10)
                except ConnectionClosed as closed:
                    emit(event="closed", code=closed.rcvd.code if closed.rcvd else None)
    except InvalidStatus as error:
        refused(error)


async def bench(url, seconds, size):
    payload = os.urandom(size)
    done = 0
    async with connect(url, max_size=None, compression=None, ping_interval=None) as ws:
        deadline = time.monotonic() + seconds
        started = time.monotonic()
        in_flight = 0
        # A window of messages in flight keeps both directions busy (one at a time measures latency).
        while in_flight < 16:
            await ws.send(payload)
            in_flight += 1
        while True:
            await ws.recv()
            done += 1
            if time.monotonic() < deadline:
                await ws.send(payload)
            else:
                in_flight -= 1
                if in_flight == 0:
                    break
        elapsed = time.monotonic() - started
    emit(messages=done, seconds=elapsed, per_second=done / elapsed)


def main():
    if len(sys.argv) in (2, 4) and sys.argv[1] == "server":
        asyncio.run(serve_echo(sys.argv[3] if len(sys.argv) == 4 and sys.argv[2] == "--tls" else None))
    elif len(sys.argv) >= 4 and sys.argv[1] == "client":
        headers = []
        rest = sys.argv[4:]
        while rest:
            if rest[0] != "--header" or len(rest) < 2:
                sys.exit("usage: websocket_peer.py client URL SCENARIO [--header NAME:VALUE]...")
            name, _, value = rest[1].partition(":")
            headers.append((name.strip(), value.strip()))
            rest = rest[2:]
        asyncio.run(client(sys.argv[2], sys.argv[3], headers))
    elif len(sys.argv) == 5 and sys.argv[1] == "bench":
        asyncio.run(bench(sys.argv[2], float(sys.argv[3]), int(sys.argv[4])))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
