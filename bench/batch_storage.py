"""`stylex batch` from local disk vs from an S3 API server, the same images in one run.

Starts moto's S3 server on loopback (port 0), uploads the images, then runs one shard of the
batch job twice with the shipped model: local folder in and out, then s3:// in and out (PNGs
included, so every item is six object PUTs). Prints images/s of each and their ratio. Needs
the test extra (s3fs, moto[server]). Against a real store, point AWS_ENDPOINT_URL and
credentials at it and pass --bucket.

    python bench/batch_storage.py                     # 64 shapes images, 32 px
    python bench/batch_storage.py --images 256 --batch-size 32
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--bucket", help="an existing bucket to use instead of a local server")
    parser.add_argument("--no-images", action="store_true", help="JSONL only, no PNGs")
    args = parser.parse_args()

    from stylex.batch import list_inputs, run_batch_job
    from stylex.data import build_dataset
    from stylex.data.images import write_png
    from stylex.runtime import OrtEngine
    from stylex.runtime.model_dir import default_model_dir

    server = None
    if args.bucket is None:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        os.environ.update(
            AWS_ENDPOINT_URL=f"http://{host}:{port}",
            AWS_ACCESS_KEY_ID="bench",
            AWS_SECRET_ACCESS_KEY="bench",
            AWS_DEFAULT_REGION="us-east-1",
        )
    import s3fs

    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    bucket = args.bucket or "stylex-bench"
    if args.bucket is None:
        fs.mkdir(bucket)
    stamp = time.strftime("%Y%m%d-%H%M%S")

    engine = OrtEngine.load(
        default_model_dir(), device="cpu", warmup_batch_sizes=(args.batch_size,)
    )
    dataset = build_dataset("shapes", engine.resolution, num_images=args.images, seed=5)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "images"
        folder.mkdir()
        for i in range(args.images):
            path = folder / f"img{i:05d}.png"
            write_png(dataset[i][0], path)
            fs.pipe_file(f"{bucket}/bench-{stamp}/images/{path.name}", path.read_bytes())
        runs = {
            "local": (folder, Path(tmp) / "out"),
            "s3": (f"s3://{bucket}/bench-{stamp}/images/", f"s3://{bucket}/bench-{stamp}/out/"),
        }
        rates = {}
        for name, (source, out) in runs.items():
            summary = run_batch_job(engine, list_inputs(source), out, batch_size=args.batch_size,
                                    images=not args.no_images, progress=False)  # fmt: skip
            assert summary.done_now == args.images and summary.errors == 0, summary
            rates[name] = summary.images_per_s
            print(f"{name:>5}: {summary.images_per_s:7.1f} img/s ({summary.seconds:.2f} s)")
    print(f"s3 / local: {rates['s3'] / rates['local']:.2f}")
    if server is not None:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
