"""`stylex demo`: the main job on the shipped model, end to end through the real service.

Writes a few sample images, starts `stylex serve` on a loopback port it picks itself (port 0;
the server writes the one it bound to `--port-file`), waits until its health service says
SERVING, explains the images with the gRPC client (JSON + counterfactual PNGs per image; IMAGE
mode, each image's own StyleSpace searched, unless `mode` says "catalog"), prints a summary,
and stops the server with SIGTERM (graceful drain).
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from stylex.data import DATASET_NAMES, build_dataset, spec_of_description
from stylex.data.images import write_png
from stylex.errors import StylexError, UnavailableError
from stylex.runtime.model_dir import default_model_dir


def write_samples(
    folder: Path, resolution: int, num_images: int, seed: int, spec: str = "shapes"
) -> list[Path]:
    """Sample images of a built-in data set as PNG files (what a user would send)."""
    ds = build_dataset(spec, resolution, num_images=num_images, seed=seed)
    paths = []
    for i in range(len(ds)):
        path = folder / f"sample-{i:02d}.png"
        write_png(ds[i][0], path)
        paths.append(path)
    return paths


def start_server(
    model_dir: str | Path,
    extra_args: Sequence[str] = (),  # more `stylex serve` flags
    *,
    timeout_s: float = 180.0,
    quiet: bool = False,  # the server's output to /dev/null
) -> tuple[subprocess.Popen, str]:
    """Start `stylex serve` on a loopback port it binds itself (port 0; it writes the port
    to a `--port-file`, so none is picked here and raced for); return the process and its
    address once health says SERVING. Raises UnavailableError, the process stopped, if it
    exits or is not SERVING within `timeout_s`."""
    proc, addresses = _start(model_dir, extra_args, timeout_s, quiet)
    return proc, addresses[0]


def start_server_with_http(
    model_dir: str | Path, extra_args: Sequence[str] = (), *, timeout_s: float = 180.0,
    quiet: bool = False,
) -> tuple[subprocess.Popen, str, str]:  # fmt: skip
    """`start_server` with HTTP on a port of its own choosing too: (process, gRPC address,
    HTTP address)."""
    proc, addresses = _start(model_dir, [*extra_args, "--http-port", "0"], timeout_s, quiet)
    return proc, addresses[0], addresses[1]


def _start(
    model_dir: str | Path, extra_args: Sequence[str], timeout_s: float, quiet: bool
) -> tuple[subprocess.Popen, list[str]]:
    from stylex.serving.client import ExplainClient

    with tempfile.TemporaryDirectory(prefix="stylex-serve-") as tmp:
        port_file = Path(tmp) / "address"
        cmd = [sys.executable, "-m", "stylex", "serve", "--model", str(model_dir),
               "--address", "127.0.0.1:0", "--port-file", str(port_file), "--metrics-port", "0",
               *extra_args]  # fmt: skip
        out = subprocess.DEVNULL if quiet else None
        proc = subprocess.Popen(cmd, stdout=out, stderr=out,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
        deadline = time.monotonic() + timeout_s
        try:
            while not port_file.exists():
                _check_running(proc)
                if time.monotonic() > deadline:
                    raise UnavailableError(f"the server was not listening after {timeout_s:.0f} s")
                time.sleep(0.1)
            addresses = port_file.read_text().splitlines()  # gRPC first, then HTTP if on
            with ExplainClient(addresses[0], timeout=2.0) as client:
                while time.monotonic() < deadline:
                    _check_running(proc)
                    try:
                        if client.health() == "SERVING":
                            return proc, addresses
                    except StylexError:
                        pass
                    time.sleep(0.3)
            raise UnavailableError(
                f"the server at {addresses[0]} was not SERVING after {timeout_s:.0f} s"
            )
        except BaseException:
            stop_server(proc)
            raise


def _check_running(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        raise UnavailableError(f"the server exited with code {proc.returncode} at start")


def stop_server(proc: subprocess.Popen, grace_s: float = 30.0) -> None:
    """SIGTERM (graceful: in-flight work finishes), then SIGKILL after `grace_s`."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_demo(
    out_dir: Path,
    *,
    model_dir: Path | None = None,  # default: the shipped model (or $STYLEX_MODEL_DIR)
    num_images: int = 6,
    top_k: int = 3,
    mode: str | None = "image",  # per request; None: the server's default
    seed: int = 7,
    start_timeout_s: float = 180.0,
) -> list[dict[str, Any]]:
    from stylex.runtime import read_model_dir
    from stylex.serving.client import explain_files_remote

    model_dir = model_dir or default_model_dir()
    manifest = read_model_dir(model_dir).manifest
    resolution = int(manifest["resolution"])
    # Samples from the built-in data the model was trained on (for shapes: its pose).
    spec = spec_of_description((manifest.get("provenance") or {}).get("data") or {})
    spec = spec if spec in DATASET_NAMES else "shapes"
    images = write_samples(out_dir / "images", resolution, num_images, seed, spec)
    print(f"demo: starting stylex serve --model {model_dir}", flush=True)
    proc, address = start_server(model_dir, timeout_s=start_timeout_s)
    try:
        print(f"demo: server SERVING at {address}; explaining {len(images)} images", flush=True)
        results = explain_files_remote(
            address, images, out_dir / "explanations", top_k=top_k, mode=mode
        )
    finally:
        stop_server(proc)
    return results


def _png_tensor(data: bytes):
    """A PNG the service returned -> x [3, H, W] in [-1, 1], at its own size."""
    from stylex.data.decode import decode_image_bytes

    with Image.open(io.BytesIO(data)) as im:
        side = im.size[0]
    return decode_image_bytes(data, side)


def write_contact_sheet(results: list[dict[str, Any]], path: Path) -> Path:
    """One PNG: per image, input | reconstruction | its counterfactuals | its joint
    counterfactual, with P(target) under each (read back from the files the demo wrote, i.e.
    what the service returned)."""
    from stylex.explain.evaluation.visuals import contact_sheet, save_png

    rows = []
    for r in results:
        folder, target = Path(r["output"]), r["target"]
        cells = [
            (_png_tensor(Path(r["image"]).read_bytes()),
             f"input: {r['predicted']}\nP({target})={r['probs'][target]:.2f}"),
            (_png_tensor((folder / "reconstruction.png").read_bytes()),
             f"reconstruction\nP({target})={r['probs_reconstruction'][target]:.2f}"),
        ]  # fmt: skip
        for a in r["attributes"]:
            name = a["label"] or f"{a['layer']}:{a['channel']} {a['direction']}"
            image = _png_tensor((folder / f"counterfactual-{a['rank']}.png").read_bytes())
            cells.append((image, f"{name}\nP({target})={a['probs'][target]:.2f}"))
        joint = r.get("joint")
        if joint and (folder / "joint.png").is_file():
            ranks = " + ".join(str(rank) for rank in joint["ranks"])
            caption = f"together: {ranks}\nP({target})={joint['probs'][target]:.2f}"
            cells.append((_png_tensor((folder / "joint.png").read_bytes()), caption))
        rows.append(cells)
    title = (
        "input | reconstruction | counterfactuals (top attribute first) | the attributes that "
        "work together, applied at once; P(target) under each"
    )
    save_png(contact_sheet(rows, title=title), path)
    return path


def summary_lines(results: list[dict[str, Any]]) -> list[str]:
    """One line per image: its top attribute and what that one edit does to P(target), and
    what the joint counterfactual (the attributes that work together, applied at once) does."""
    lines = [
        f"{'image':<16}{'predicted':<12}{'target':<10}{'top attribute':<44}{'dP(target)':>10}"
        f"{'joint dP':>10}  flips"
    ]
    for r in results:
        top = r["attributes"][0] if r["attributes"] else None
        name = f"{top['layer']} ch {top['channel']} ({top['direction']})" if top else "-"
        if top and top["label"]:
            name = f"{top['label']}: {name}"
        effect = f"{top['effect']:+.3f}" if top else "-"
        joint = r.get("joint")
        joint_effect = f"{joint['effect']:+.3f}" if joint else "-"
        flips = ("yes" if joint["flips"] else "no") if joint else "-"
        lines.append(
            f"{Path(r['image']).name:<16}{r['predicted']:<12}{r['target']:<10}{name:<44}{effect:>10}"
            f"{joint_effect:>10}  {flips}"
        )
    return lines
