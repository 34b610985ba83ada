"""Soak: N clients for M seconds against a real `stylex serve`, with hostile images in the mix.

Two phases on the same server, side by side in one run:
  control  every client sends ordinary 32 px PNGs;
  hostile  a share of the clients (--hostile-share, default a quarter) send a 9000 x 9000 PNG
           (about 240 KB that decode to 81 M pixels), --malformed-share send broken bytes
           (over HTTP also bodies the parsers cannot read: JSON nested 100,000 deep, NaN
           pixels, a multipart form with no end), the rest the ordinary PNGs.
Prints the answers by status per phase, p50 / p99 latency of the ordinary requests, the
server's RSS before, at its peak and after, and the checks the service is held to:
no server-side error (INTERNAL / UNKNOWN / UNAVAILABLE), peak RSS under baseline + 1 GB, and
the ordinary requests' p99 under hostile load at most 1.5x their p99 in the control phase.

With --transport http every client speaks HTTP (`POST /v1/explain`, one keep-alive
connection each), with mixed every other one; an HTTP answer counts under the gRPC status name
its error body carries ("code"), so the checks are the same.

    python bench/soak.py                         # 48 clients, 20 s per phase, shipped model
    python bench/soak.py --clients 16 --seconds 5
    python bench/soak.py --transport mixed       # half gRPC, half HTTP, same server
"""

from __future__ import annotations

import argparse
import http.client
import json
import struct
import sys
import threading
import time
import zlib
from collections import Counter
from pathlib import Path

import grpc
import numpy as np
import psutil

from stylex.demo import start_server_with_http, stop_server
from stylex.runtime.model_dir import default_model_dir
from stylex.serving.grpc.gen.stylex.v1 import explain_pb2 as pb
from stylex.serving.grpc.gen.stylex.v1 import explain_pb2_grpc as pb_grpc

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve import sample_pngs

SERVER_SIDE = {"INTERNAL", "UNKNOWN", "UNAVAILABLE", "DATA_LOSS"}
Payload = bytes | tuple[str, str, bytes]  # an image, or an HTTP (path, Content-Type, body)
_PIXELS = b",0" * (3 * 32 * 32 - 1)
BROKEN_BODIES: list[Payload] = [
    ("/v2/models/shapes32/infer", "application/json", b"[" * 100_000 + b"]" * 100_000),
    ("/v2/models/shapes32/infer", "application/json",
     b'{"inputs": [{"name": "image", "datatype": "FP32", "shape": [1, 3, 32, 32], '
     b'"data": [NaN' + _PIXELS + b"]}]}"),
    ("/v1/explain", "multipart/form-data; boundary=x",
     b"--x\r\nContent-Disposition: form-data; name=image\r\n\r\n"),
]  # fmt: skip


def big_png(side: int = 9000) -> bytes:
    """A side x side RGB PNG of grey rows, compressed as a stream (never held decoded)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    z = zlib.compressobj(9)
    row = b"\x00" + b"\x80" * (3 * side)
    idat = b"".join(z.compress(row) for _ in range(side)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


class RssWatch:
    """Samples a process's resident memory every few ms in a thread; `peak` since `reset`."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.peak = self.now()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def now(self) -> int:
        return self.proc.memory_info().rss

    def reset(self) -> None:
        self.peak = self.now()

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            try:
                self.peak = max(self.peak, self.now())
            except psutil.Error:
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


class GrpcSender:
    def __init__(self, address: str) -> None:
        self.channel = grpc.insecure_channel(address)
        self.stub = pb_grpc.ExplainServiceStub(self.channel)

    def __call__(self, image: Payload) -> str:
        if isinstance(image, tuple):  # an HTTP body: its bytes are a broken image here
            image = image[2]
        req = pb.ExplainRequest(image=image, top_k=5, image_format=pb.IMAGE_FORMAT_NONE)
        try:
            self.stub.Explain(req, timeout=30)
            return "OK"
        except grpc.RpcError as e:
            return e.code().name

    def close(self) -> None:
        self.channel.close()


class HttpSender:
    """POST /v1/explain on one keep-alive connection; the answer's gRPC status name."""

    def __init__(self, address: str) -> None:
        host, port = address.rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=30)

    def __call__(self, image: Payload) -> str:
        path, ctype, body = "/v1/explain?top_k=5&image_format=none", "image/png", image
        if isinstance(image, tuple):
            path, ctype, body = image
        try:
            self.conn.request("POST", path, body=body, headers={"Content-Type": ctype})
            resp = self.conn.getresponse()
            body = resp.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()  # reconnects on the next request
            return "UNAVAILABLE"
        if resp.status == 200:
            return "OK"
        try:
            return str(json.loads(body)["code"])
        except (ValueError, KeyError):
            return f"HTTP_{resp.status}"

    def close(self) -> None:
        self.conn.close()


def phase(
    addresses: dict[str, str], kinds: list[str], payloads: dict[str, list[Payload]],
    seconds: float, transports: list[str],
):  # fmt: skip
    """One client thread per entry of `kinds` (speaking its entry of `transports`); each sends
    its kind's payloads in a loop."""
    statuses: Counter[tuple[str, str]] = Counter()
    good_ms: list[float] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client(kind: str, seed: int) -> None:
        transport = transports[seed]
        send = (HttpSender if transport == "http" else GrpcSender)(addresses[transport])
        items = payloads[kind]
        i = seed
        while time.monotonic() < stop_at:
            t0 = time.perf_counter()
            code = send(items[i % len(items)])
            elapsed = (time.perf_counter() - t0) * 1000
            with lock:
                statuses[(f"{kind}/{transport}", code)] += 1
                if kind == "ordinary" and code == "OK":
                    good_ms.append(elapsed)
            i += 1
        send.close()

    threads = [threading.Thread(target=client, args=(k, s)) for s, k in enumerate(kinds)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ms = np.array(good_ms) if good_ms else np.array([np.nan])
    return statuses, float(np.percentile(ms, 50)), float(np.percentile(ms, 99)), len(good_ms)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=str(default_model_dir()))
    parser.add_argument("--clients", type=int, default=48)
    parser.add_argument("--seconds", type=float, default=20.0, help="per phase")
    parser.add_argument("--hostile-share", type=float, default=0.25)
    parser.add_argument("--malformed-share", type=float, default=0.0)
    parser.add_argument("--transport", choices=["grpc", "http", "mixed"], default="grpc")
    args = parser.parse_args()
    transports = {
        "grpc": ["grpc"] * args.clients,
        "http": ["http"] * args.clients,
        "mixed": [("grpc", "http")[i % 2] for i in range(args.clients)],
    }[args.transport]

    good = sample_pngs(32, 32)
    ordinary = good[0]
    payloads = {
        "ordinary": good,
        "oversized": [big_png()],
        "malformed": [
            b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
            ordinary[: len(ordinary) // 2],
            *BROKEN_BODIES,
        ],
    }
    n_big = round(args.clients * args.hostile_share)
    n_bad = round(args.clients * args.malformed_share)
    hostile = ["oversized"] * n_big + ["malformed"] * n_bad
    hostile += ["ordinary"] * (args.clients - len(hostile))

    flags = ["--max-queue", str(4 * args.clients)]
    server, grpc_address, http_address = start_server_with_http(args.model, flags, quiet=True)
    addresses = {"grpc": grpc_address, "http": http_address}
    try:
        rss = RssWatch(server.pid)
        big_kb = len(payloads["oversized"][0]) / 1024
        print(f"model {args.model}; {args.clients} clients ({args.transport}); "
              f"{args.seconds:.0f} s per phase; "
              f"oversized PNG {big_kb:.0f} KB (9000 x 9000)")  # fmt: skip
        baseline = rss.now()
        results = {}
        for name, kinds in (("control", ["ordinary"] * args.clients), ("hostile", hostile)):
            rss.reset()
            found = phase(addresses, kinds, payloads, args.seconds, transports)
            results[name] = (*found, rss.peak)
        after = rss.now()
        rss.stop()
    finally:
        stop_server(server, grace_s=60)

    mib = 1 / 2**20
    print(f"{'phase':<9}{'kind/transport':<20}{'status':<20}{'answers':>8}")
    for name, (statuses, *_rest) in results.items():
        for (kind, code), count in sorted(statuses.items()):
            print(f"{name:<9}{kind:<20}{code:<20}{count:>8}")
    print(f"{'phase':<9}{'ordinary OK':>12}{'p50 ms':>9}{'p99 ms':>9}{'peak RSS MiB':>14}")
    for name, (_, p50, p99, n, peak) in results.items():
        print(f"{name:<9}{n:>12}{p50:>9.1f}{p99:>9.1f}{peak * mib:>14.0f}")
    peak = max(r[4] for r in results.values())
    server_errors = sum(c for r in results.values() for (_, code), c in r[0].items()
                        if code in SERVER_SIDE)  # fmt: skip
    ratio = results["hostile"][2] / results["control"][2]
    print(f"RSS before {baseline * mib:.0f} MiB, peak {peak * mib:.0f} MiB, "
          f"after {after * mib:.0f} MiB")  # fmt: skip
    checks = {
        "no server-side errors": server_errors == 0,
        "peak RSS < baseline + 1 GiB": peak < baseline + 2**30,
        f"hostile p99 / control p99 = {ratio:.2f} <= 1.5": ratio <= 1.5,
    }
    for label, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {label}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
