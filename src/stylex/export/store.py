"""`stylex export`: a trained run (with its attribute catalog) -> a versioned model directory.

Everything is written into a hidden temporary folder beside the target, checked, and then
renamed into place, so a model directory either exists complete or not at all. An existing
version is never overwritten. The format is described in `stylex.runtime.model_dir`.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import onnx
import torch

from stylex.errors import CheckpointError, InvalidArgumentError
from stylex.explain.context import load_context
from stylex.explain.search.screen import ScreenPrior, load_run_prior
from stylex.explain.vocabulary.catalog import AttributeCatalog
from stylex.export.graphs import example_inputs, export_graph, graph_modules
from stylex.export.parity import graph_parity
from stylex.export.versions import check_name, new_version_dir
from stylex.fileio import write_json
from stylex.rundir import CATALOG_NAME, SCREEN_FILE
from stylex.runtime.model_dir import (
    GRAPHS,
    MANIFEST_NAME,
    SCHEMA_VERSION,
    file_entry,
    read_model_dir,
)

EXPORT_BATCH = 2  # batch of the traced examples; the exported batch axis is dynamic


def export_run(
    run_dir: str | Path,
    out_dir: str | Path,  # the model store; the model lands in out_dir/<name>/<version>/
    *,
    name: str | None = None,  # default: the run directory's name
    version: str | int = 1,
    opset: int = 17,
    fp16: bool = False,  # also build the fp16 variant; kept only if it passes its check
    fp16_device: str = "auto",  # where the fp16 check runs (the GPU it is meant for, if any)
    fp16_images: int = 32,  # held-out images of the check
) -> Path:
    """Export the four graphs and the manifest of a run; return the model directory.
    With `fp16`, the manifest's "fp16_check" records the variant's acceptance check."""
    run_dir = Path(run_dir)
    name = name or run_dir.resolve().name
    version = str(version)
    check_name("name", name)
    check_name("version", version)
    target = Path(out_dir) / name / version
    if target.exists():
        raise InvalidArgumentError(f"{target} already exists; refusing to overwrite a version")
    if not (run_dir / CATALOG_NAME).is_file():
        raise CheckpointError(
            f"run {run_dir} has no {CATALOG_NAME}: run `stylex attfind {run_dir}` before export"
        )
    catalog = AttributeCatalog.load(run_dir)
    ctx = load_context(run_dir, "cpu")
    G, E, C = ctx.G, ctx.E, ctx.C
    _check_catalog(catalog, ctx.class_names, G.layout.num_conv, run_dir)

    with new_version_dir(target) as tmp:
        G.fused_modconv = False  # the grouped-conv path does not export with a dynamic batch
        modules = graph_modules(G, E, C)
        inputs = example_inputs(G, E, EXPORT_BATCH)
        for graph, (file, _, _) in GRAPHS.items():
            export_graph(graph, modules[graph], inputs[graph], tmp / file, opset)
        files = {file: file_entry(tmp / file) for file, _, _ in GRAPHS.values()}
        prior = _copy_screen_prior(run_dir, tmp, catalog, files)
        manifest = _manifest(ctx, catalog, name, version, opset, files)
        if prior is not None:
            manifest["screen"] = {"file": SCREEN_FILE, **prior.describe(), "measured_on": "attfind"}
        write_json(tmp / MANIFEST_NAME, manifest)
        if fp16:
            _add_fp16_variant(tmp, manifest, ctx, fp16_device, fp16_images)
    return target


def export_model(
    run_dir: str | Path,
    out_dir: str | Path,
    *,
    parity: bool = False,  # also compare every graph with PyTorch (graph_parity)
    **options: Any,  # those of export_run
) -> dict[str, Any]:
    """`stylex export`: export_run, then what it reports: the model directory, the fp16 check
    when one ran (as the verified directory records it), and with `parity` each graph's
    largest difference from PyTorch per batch size."""
    target = export_run(run_dir, out_dir, **options)
    result: dict[str, Any] = {"model_dir": str(target)}
    if options.get("fp16"):
        result["fp16_check"] = read_model_dir(target).manifest["fp16_check"]
    if parity:
        result["parity_max_abs"] = graph_parity(run_dir, target)
    return result


def _add_fp16_variant(
    tmp: Path, manifest: dict[str, Any], ctx, device: str, num_images: int
) -> None:
    """Convert, check and list the fp16 variant in `manifest` (rewritten in `tmp`); a variant
    that fails the check is deleted again and only its check is recorded."""
    from stylex.explain.context import stack_images
    from stylex.export import fp16 as half
    from stylex.runtime.ort_engine import OrtEngine

    if num_images < 1:
        raise InvalidArgumentError(f"fp16 check images {num_images}: expected >= 1")
    fp32 = read_model_dir(tmp)
    variant_files = {g: half.fp16_file(GRAPHS[g][0]) for g in half.FP16_GRAPHS}
    for graph, file in variant_files.items():
        (tmp / file).write_bytes(half.convert_to_fp16(fp32.graphs[graph]))
        manifest["files"][file] = file_entry(tmp / file)
    manifest["variants"] = {"fp16": {"graphs": variant_files, "fp32_graphs": ["classifier"]}}
    write_json(tmp / MANIFEST_NAME, manifest)
    reference = OrtEngine.load(tmp, device=device, warmup_batch_sizes=())
    candidate = OrtEngine.load(tmp, device=device, precision="fp16", warmup_batch_sizes=())
    images = stack_images(ctx.dataset(None, num_images, seed_offset=half.CHECK_SEED_OFFSET))
    check = half.compare_explanations(reference, candidate, images, half.CHECK_TOP_K)
    check["provider"] = candidate.providers[0]
    manifest["fp16_check"] = check
    if check["accepted"]:
        manifest["variants"]["fp16"]["check"] = check
    else:
        del manifest["variants"]
        for file in variant_files.values():
            del manifest["files"][file]
            (tmp / file).unlink()
    write_json(tmp / MANIFEST_NAME, manifest)


def _copy_screen_prior(
    run_dir: Path, tmp: Path, catalog: AttributeCatalog, files: dict[str, Any]
) -> ScreenPrior | None:
    """RUN/screen.npz (AttFind's, beside the catalog) into the model, checked; None: none."""
    prior = load_run_prior(run_dir, catalog)
    if prior is not None:
        shutil.copyfile(run_dir / SCREEN_FILE, tmp / SCREEN_FILE)
        files[SCREEN_FILE] = file_entry(tmp / SCREEN_FILE)
    return prior


def _check_catalog(
    catalog: AttributeCatalog, class_names: list[str], num_conv: int, run_dir: Path
) -> None:
    if catalog.class_names != class_names:
        raise CheckpointError(
            f"{run_dir / CATALOG_NAME} is for classes {catalog.class_names}, the run's "
            f"classifier has {class_names}: run `stylex attfind` again"
        )
    if catalog.stats.s_min.numel() != num_conv:
        raise CheckpointError(
            f"{run_dir / CATALOG_NAME} has statistics of {catalog.stats.s_min.numel()} style "
            f"coordinates, the generator has {num_conv}: run `stylex attfind` again"
        )


def _manifest(
    ctx, catalog: AttributeCatalog, name: str, version: str, opset: int, files: dict
) -> dict[str, Any]:
    config = ctx.run.config
    train = config.get("train", {})
    return {
        "schema_version": SCHEMA_VERSION,
        "name": name,
        "version": version,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "resolution": ctx.resolution,
        "class_names": ctx.class_names,
        "num_classes": len(ctx.class_names),
        "w_dim": ctx.G.cfg.w_dim,
        "num_style_coordinates": ctx.G.layout.num_conv,
        "num_rgb_styles": ctx.G.layout.num_rgb,
        "stylespace_layout": ctx.G.layout.to_json(),
        "classifier": _classifier_provenance(ctx, config.get("classifier", {})),
        "graphs": {
            g: {"file": f, "inputs": list(i), "outputs": list(o), "batch_axis": 0}
            for g, (f, i, o) in GRAPHS.items()
        },
        "noise_mode": "const",
        "exporter": {
            "name": "torch.onnx.export (TorchScript-based, dynamo=False)",
            "torch_version": torch.__version__,
            "onnx_version": onnx.__version__,
            "opset": opset,
        },
        "provenance": {
            "run": ctx.run_dir.resolve().name,
            "step": ctx.run.step,
            "steps": train.get("steps"),
            "data": _portable_data(config.get("data", {})),
            "stylex_version": config.get("stylex_version"),
            "arch": config.get("arch", {}),
        },
        "catalog": _portable_catalog(catalog.to_json()),
        "files": files,
    }


# A model directory is copied to other machines: it records files by name and sha256, never by
# a path of the machine that exported it (the run's config.json does keep local paths).


def _classifier_provenance(ctx, section: dict[str, Any]) -> dict[str, Any]:
    """The classifier's preprocessing and which file it was: name, sha256 and size of the run's
    copy (the file training was given), and its classes."""
    copy = ctx.run.classifier_path
    if copy is None or not copy.is_file():
        raise CheckpointError(f"run {ctx.run_dir} has no copy of its classifier ({copy})")
    return {
        "preprocessing": ctx.C.spec.to_dict(),
        "file": copy.name,
        **file_entry(copy),
        **{k: section[k] for k in ("num_classes", "class_names") if k in section},
    }


def _portable_data(data: dict[str, Any]) -> dict[str, Any]:
    """The data description with an image folder named by its folder name only."""
    return {k: _file_name(v) if k in ("spec", "root") else v for k, v in data.items()}


def _portable_catalog(catalog: dict[str, Any]) -> dict[str, Any]:
    settings = catalog.get("settings") or {}
    if "data" not in settings:
        return catalog
    return {**catalog, "settings": {**settings, "data": _file_name(settings["data"])}}


def _file_name(value: Any) -> Any:
    """An absolute path (POSIX, or Windows with a drive) -> its last part; anything else as is."""
    if not isinstance(value, str):
        return value
    if value.startswith("/"):
        return PurePosixPath(value).name
    windows = PureWindowsPath(value)  # C:\data\x, or \\host\share\x (UNC): a drive
    return windows.name if windows.drive else value
