"""The `stylex` command line. Each subcommand parses its flags and calls one library function;
errors stylex raises on purpose are printed as one line and end with a non-zero exit code."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from stylex.errors import ConfigError, StylexError


def _parse_sets(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"--set expects KEY=VALUE, got {pair!r}")
        key, value = pair.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def _train_overrides(args: argparse.Namespace) -> dict[str, str]:
    overrides = {}
    for flag, key in (
        ("data", "data"),
        ("rule", "data_rule"),
        ("num_images", "num_images"),
        ("classifier", "classifier"),
        ("steps", "steps"),
        ("batch_size", "batch_size"),
        ("resolution", "resolution"),
        ("seed", "seed"),
        ("device", "device"),
    ):
        value = getattr(args, flag)
        if value is not None:
            overrides[key] = str(value)
    overrides.update(_parse_sets(args.set))
    return overrides


def cmd_train(args: argparse.Namespace) -> int:
    from stylex.training.config import resolve_config

    cfg = resolve_config(args.preset, _train_overrides(args))
    if args.dry_run:
        print(json.dumps(_dry_run(cfg), indent=2))
        return 0
    from stylex.training.trainer import summarize_history, train

    result = train(cfg, args.run_dir, resume=args.resume, progress=not args.no_progress)
    summary = summarize_history(result.history, ["rec_l1", "cls_kl", "G_adv", "D_real", "D_fake"])
    print(
        json.dumps(
            {"run_dir": str(result.run_dir), "step": result.step, "losses": summary}, indent=2
        )
    )
    return 0


def _dry_run(cfg) -> dict:
    """The resolved configuration and the network sizes, without training."""
    from stylex.models import Discriminator, Encoder, Generator
    from stylex.training.trainer import arch_from

    if cfg.classifier is not None:
        from stylex.classifiers import load_classifier

        num_classes = load_classifier(cfg.classifier).num_classes
        source = "classifier"
    else:
        from stylex.data import build_dataset

        ds = build_dataset(
            cfg.data, cfg.resolution, num_images=cfg.num_images, seed=cfg.seed, rule=cfg.data_rule
        )
        num_classes = max(len(ds.class_names), 1)
        source = "data set (no classifier given)"
    arch = arch_from(cfg, num_classes)
    G, E, D = Generator(arch), Encoder(arch), Discriminator(arch)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    return {
        "train": cfg.to_dict(),
        "arch": arch.to_dict(),
        "num_classes_from": source,
        "num_style_coordinates": G.layout.num_conv,
        "num_torgb_styles": G.layout.num_rgb,
        "parameters": {"G": count(G), "E": count(E), "D": count(D)},
        "style_layers": [
            {
                "name": lay.name,
                "resolution": lay.resolution,
                "channels": lay.channels,
                "offset": lay.offset,
            }
            for lay in G.layout.conv_layers
        ],
    }


def cmd_train_classifier(args: argparse.Namespace) -> int:
    from stylex.classifiers import train_classifier
    from stylex.data import build_dataset, split_dataset

    dataset = build_dataset(
        args.data, args.resolution, num_images=args.num_images, seed=args.seed, rule=args.rule
    )
    train_set, val_set = split_dataset(dataset, val_fraction=args.val_fraction, seed=args.seed)
    metrics = train_classifier(
        train_set,
        val_set,
        Path(args.out),
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        device=args.device,
        width=args.width,
        progress=not args.no_progress,
        export_onnx=args.onnx,
    )
    print(json.dumps({"classifier": str(args.out), **metrics}, indent=2))
    return 0


def cmd_attfind(args: argparse.Namespace) -> int:
    from stylex.explain.context import load_context
    from stylex.explain.find import AttFindSettings, catalog_summary, run_attfind

    settings = AttFindSettings(
        num_images=args.num_images,
        num_attributes=args.num_attributes,
        shift=args.shift,
        screen_top=args.screen_top,
        chunk_images=args.chunk_images,
        edits_per_batch=args.edits_per_batch,
        data=args.data,
    )
    ctx = load_context(args.run_dir, args.device)
    catalog = run_attfind(ctx, settings, progress=not args.no_progress)
    print(
        json.dumps(
            {
                "catalog": str(Path(args.run_dir) / "attributes.json"),
                "settings": catalog.settings,
                "top": catalog_summary(catalog),
            },
            indent=2,
        )
    )
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    if args.server:
        from stylex.serving.client import explain_files_remote

        results = explain_files_remote(
            args.server,
            [Path(p) for p in args.images],
            Path(args.out),
            top_k=args.top_k,
            target=args.target,
            shift=args.shift,
        )
        print(json.dumps(results, indent=2))
        return 0
    if not args.run_dir:
        raise ConfigError("explain needs --run-dir (a local run) or --server HOST:PORT")
    from stylex.explain.output import explain_files

    results = explain_files(
        args.run_dir,
        [Path(p) for p in args.images],
        Path(args.out),
        top_k=args.top_k,
        target=args.target,
        shift=args.shift,
        exhaustive=args.exhaustive,
        device=args.device,
    )
    print(json.dumps(results, indent=2))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from stylex.explain.context import load_context
    from stylex.explain.evaluate import EvalSettings, evaluate_run

    probe = {k: v for k, v in (("probe_epochs", args.probe_epochs),
                               ("probe_images", args.probe_images)) if v is not None}  # fmt: skip
    settings = EvalSettings(num_images=args.num_images, max_k=args.max_k, shift=args.shift,
                            data=args.data, probe_dir=args.probe_dir, **probe)  # fmt: skip
    metrics = evaluate_run(
        load_context(args.run_dir, args.device), settings, progress=not args.no_progress,
        reconstruction_only=args.reconstruction_only,
    )  # fmt: skip
    print(json.dumps(metrics, indent=2))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from stylex.explain.context import load_context
    from stylex.explain.reporting import report_run

    out = report_run(
        load_context(args.run_dir, args.device), Path(args.out) if args.out else None,
        top=args.top, num_examples=args.num_examples, gifs=args.gif, progress=not args.no_progress,
    )  # fmt: skip
    print(json.dumps({"report": str(out)}))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from stylex.export import export_run, graph_parity

    model_dir = export_run(
        args.run_dir, args.out, name=args.name, version=args.version, opset=args.opset,
        fp16=args.fp16, fp16_device=args.fp16_device, fp16_images=args.fp16_images,
    )  # fmt: skip
    result: dict = {"model_dir": str(model_dir)}
    if args.fp16:
        manifest = json.loads((model_dir / "manifest.json").read_text())
        result["fp16_check"] = manifest["fp16_check"]
    if args.parity:
        result["parity_max_abs"] = graph_parity(args.run_dir, model_dir)
    print(json.dumps(result, indent=2))
    return 0


def cmd_archive(args: argparse.Namespace) -> int:
    """Build NAME.mar for TorchServe from an exported model directory."""
    from stylex.serving.torchserve.archive import ArchiveSettings, build_archive

    settings = ArchiveSettings(batch_size=args.batch_size, max_batch_delay_ms=args.max_batch_delay)
    mar = build_archive(
        args.model_dir, args.out, args.name, handler=args.handler, settings=settings
    )
    print(f"archive: {mar}")
    print(f"config:  {mar.parent / 'config.properties'}")
    return 0


def cmd_batch(args: argparse.Namespace) -> int:
    """Explain a folder, glob or manifest; one shard of it, resumable."""
    from stylex.batch import list_inputs, load_engine, resolve_shard, run_batch_job, shard

    index, num_shards = resolve_shard(args.shard_index, args.num_shards)
    items = shard(list_inputs(args.input), index, num_shards)
    from stylex.runtime.model_dir import DEFAULT_MODEL_DIR

    engine = load_engine(args.model or DEFAULT_MODEL_DIR, args.device, args.batch_size)
    target = int(args.target) if args.target is not None and args.target.isdigit() else args.target
    summary = run_batch_job(
        engine, items, args.out, shard_index=index, num_shards=num_shards, top_k=args.top_k,
        target=target, shift=args.shift, batch_size=args.batch_size, images=not args.no_images,
        progress=not args.no_progress, retry_errors=args.retry_errors,
    )  # fmt: skip
    print(json.dumps(summary.to_dict(), indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stylex", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train G, E and D for a classifier")
    p.add_argument(
        "--preset", default="tiny", help="tiny | cpu32 | small32 | small64 | gpu64 | paper256"
    )
    p.add_argument("--data", help="shapes | digits | PATH to an image folder")
    p.add_argument("--rule", help="label rule of a built-in data set (or an expression for shapes)")
    p.add_argument("--num-images", type=int, help="use at most this many training images")
    p.add_argument("--classifier", help="classifier file (.pt TorchScript or .onnx) with sidecar")
    p.add_argument("--run-dir", default="runs/train", help="output run directory")
    p.add_argument("--steps", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--resolution", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="auto | cpu | cuda | cuda:N")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any option, e.g. --set lr_e=1e-4 --set loss.r1_gamma=0.5",
    )
    p.add_argument("--resume", action="store_true", help="continue the run in --run-dir")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("train-classifier", help="train the built-in CNN classifier on a data set")
    p.add_argument("--data", default="shapes", help="shapes | digits | PATH to an image folder")
    p.add_argument("--rule", help="label rule of a built-in data set")
    p.add_argument("--resolution", type=int, default=32)
    p.add_argument("--num-images", type=int, default=None)
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--out", default="runs/classifier/classifier.pt", help="output .pt file")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--width", type=int, default=32, help="channels of the first conv")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--onnx", action="store_true", help="also write an ONNX copy")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_train_classifier)

    p = sub.add_parser("attfind", help="find the classifier's attributes in a trained run")
    p.add_argument("run_dir", help="trained run directory")
    p.add_argument("--num-images", type=int, default=250)
    p.add_argument("--num-attributes", type=int, default=10, help="K per class")
    p.add_argument("--shift", type=float, default=1.0, help="1 = move to the extreme")
    p.add_argument(
        "--screen-top",
        type=int,
        default=0,
        help="first-order screen: evaluate only this many coordinates per image exactly",
    )
    p.add_argument("--chunk-images", type=int, default=8, help="images per resumable chunk")
    p.add_argument("--edits-per-batch", type=int, default=128)
    p.add_argument("--data", help="images to use (default: the run's data set, other seed)")
    p.add_argument("--device", default="auto")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_attfind)

    p = sub.add_parser("explain", help="explain images with a run's attributes")
    p.add_argument("images", nargs="+", help="image files")
    p.add_argument("--run-dir", help="trained run with attributes.json (unless --server)")
    p.add_argument("--server", metavar="HOST:PORT", help="explain on a `stylex serve` server")
    p.add_argument("--out", default="explanations", help="output folder")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--target", help="class to move toward (name or index; default runner-up)")
    p.add_argument("--shift", type=float, default=1.0)
    p.add_argument("--exhaustive", action="store_true", help="search all coordinates per image")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser(
        "evaluate", help="fidelity, faithfulness, flip rates, success, minimality -> metrics.json"
    )
    p.add_argument("run_dir")
    p.add_argument("--num-images", type=int, default=200, help="held-out images")
    p.add_argument("--max-k", type=int, default=10)
    p.add_argument("--shift", type=float, default=1.0)
    p.add_argument("--probe-epochs", type=int, help="factor probe training epochs (shapes)")
    p.add_argument("--probe-images", type=int, help="images the factor probe trains on (shapes)")
    p.add_argument("--probe-dir", help="cache folder of the factor probe (default RUN/probes)")
    p.add_argument(
        "--reconstruction-only",
        action="store_true",
        help="only fidelity and faithfulness (no attribute catalog needed) -> "
        "metrics-reconstruction.json; for comparing checkpoints and recipes quickly",
    )
    p.add_argument("--data", help="held-out images (default: the run's data set, other seed)")
    p.add_argument("--device", default="auto")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("report", help="write a self-contained HTML report of a run")
    p.add_argument("run_dir")
    p.add_argument("--out", help="HTML file (default RUN/report.html)")
    p.add_argument("--top", type=int, default=5, help="attributes per class")
    p.add_argument("--num-examples", type=int, default=4)
    p.add_argument("--gif", action="store_true", help="also write animated GIFs")
    p.add_argument("--device", default="auto")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("export", help="export a run (with attributes.json) to ONNX + manifest")
    p.add_argument("run_dir", help="trained run directory, after `stylex attfind`")
    p.add_argument("--out", default="model_store", help="model store; writes OUT/NAME/VERSION/")
    p.add_argument("--name", help="model name (default: the run directory's name)")
    p.add_argument("--version", default="1", help="model version; an existing one is kept")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset")
    p.add_argument("--parity", action="store_true", help="print max abs diff vs PyTorch")
    p.add_argument(
        "--fp16", action="store_true",
        help="also write the fp16 variant (GPU), kept only if its top-5 attributes match fp32",
    )  # fmt: skip
    p.add_argument("--fp16-device", default="auto", help="where the fp16 check runs")
    p.add_argument("--fp16-images", type=int, default=32, help="held-out images of the check")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("archive", help="build a TorchServe .mar from an exported model directory")
    p.add_argument("model_dir", help="model directory written by `stylex export`")
    p.add_argument(
        "--out", default="model_store", help="writes OUT/NAME.mar, OUT/config.properties"
    )
    p.add_argument("--name", required=True, help="TorchServe model name")
    p.add_argument("--batch-size", type=int, default=8, help="requests per handler call")
    p.add_argument("--max-batch-delay", type=int, default=50, help="ms to wait to fill a batch")
    p.add_argument("--handler", help="handler file (default: handlers/stylex_handler.py)")
    p.set_defaults(func=cmd_archive)
    p = sub.add_parser("batch", help="explain a folder, glob or manifest; sharded, resumable")
    p.add_argument(
        "input", help="image folder, quoted glob, or manifest (.txt / .jsonl); or a URL of one "
        "(s3://bucket/prefix/, needs stylex[s3])",
    )  # fmt: skip
    p.add_argument(
        "--out", required=True,
        help="output folder or URL (results JSONL, PNGs, summary)",
    )  # fmt: skip
    p.add_argument("--model", help="model or run directory (default: the shipped model)")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--target", help="class to move toward (name or index; default runner-up)")
    p.add_argument("--shift", type=float, default=1.0)
    p.add_argument("--batch-size", type=int, default=32, help="images per engine call")
    p.add_argument("--shard-index", type=int, help="default: $JOB_COMPLETION_INDEX, else 0")
    p.add_argument("--num-shards", type=int, help="default: $STYLEX_NUM_SHARDS, else 1")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--no-images", action="store_true", help="JSONL only, no PNGs")
    p.add_argument(
        "--retry-errors", action="store_true",
        help="explain again the items whose last result is an error (a new line each)",
    )  # fmt: skip
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_batch)

    p = sub.add_parser("serve", help="serve explanations over gRPC (stylex.v1 + OIP v2)")
    p.add_argument("--model", dest="model_dir", help="model directory (default: shipped shapes32)")
    p.add_argument("--address", help="HOST:PORT to listen on (default 127.0.0.1:50051)")
    p.add_argument("--metrics-port", type=int, help="Prometheus port (default 9090; 0 = off)")
    p.add_argument("--max-batch-size", type=int, help="images per engine call (default 8)")
    p.add_argument("--max-delay-ms", type=float, help="wait to fill a batch (default 5)")
    p.add_argument("--max-queue", type=int, help="queued requests before RESOURCE_EXHAUSTED")
    p.add_argument("--device", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--threads", type=int, help="ONNX Runtime intra-op threads (0 = CPU limit)")
    p.add_argument("--precision", choices=["fp32", "fp16"], help="graphs to serve (default fp32)")
    p.add_argument("--grace-s", type=float, help="seconds in-flight RPCs get on SIGTERM")
    p.add_argument("--drain-delay-s", type=float, help="NOT_SERVING this long before refusing")
    p.add_argument("--tls-cert", help="PEM certificate chain (with --tls-key)")
    p.add_argument("--tls-key", help="PEM private key")
    p.set_defaults(func=cmd_serve)
    p = sub.add_parser("demo", help="serve the shipped model and explain sample images")
    p.add_argument("--out", default="runs/demo", help="output folder")
    p.add_argument("--model", help="model folder (default: the shipped model_store/shapes32/3)")
    p.add_argument("--num-images", type=int, default=6)
    p.add_argument("--top-k", type=int, default=3)
    p.set_defaults(func=cmd_demo)
    return parser


def cmd_serve(args: argparse.Namespace) -> int:
    """Flags override STYLEX_* environment variables (see stylex.serving.config)."""
    import asyncio
    import logging

    from stylex.serving.config import ServeConfig
    from stylex.serving.server import serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    keys = (
        "model_dir", "address", "metrics_port", "max_batch_size", "max_delay_ms", "max_queue",
        "device", "threads", "precision", "grace_s", "drain_delay_s", "tls_cert", "tls_key",
    )  # fmt: skip
    config = ServeConfig.from_env(**{k: getattr(args, k) for k in keys})
    asyncio.run(serve(config))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from stylex.demo import DEFAULT_MODEL, run_demo, summary_lines, write_contact_sheet

    out = Path(args.out)
    model = Path(args.model) if args.model else DEFAULT_MODEL
    results = run_demo(out, model_dir=model, num_images=args.num_images, top_k=args.top_k)
    print("\n".join(summary_lines(results)))
    print(f"demo: explanations (JSON + counterfactual PNGs) in {out / 'explanations'}")
    sheet = write_contact_sheet(results, out / "contact-sheet.png")
    print(f"demo: contact sheet (input | reconstruction | counterfactuals) in {sheet}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except StylexError as exc:
        print(f"stylex: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("stylex: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
