"""The committed generated code equals a fresh generation from protos/ (staleness check)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "src" / "stylex" / "serving" / "grpc" / "gen"


def _generate_module():
    spec = importlib.util.spec_from_file_location("generate", ROOT / "protos" / "generate.py")
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    return generate


def test_generated_code_is_fresh(tmp_path):
    generate = _generate_module()
    written = generate.generate(tmp_path)
    assert written
    fresh = {p.relative_to(tmp_path): p.read_text() for p in tmp_path.rglob("*") if p.is_file()}
    committed = {
        p.relative_to(COMMITTED): p.read_text()
        for p in COMMITTED.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert sorted(fresh) == sorted(committed)
    stale = [str(name) for name, text in fresh.items() if committed[name] != text]
    assert not stale, f"regenerate with `python protos/generate.py`: {stale}"


def _versions(pattern: str, suffix: str) -> set[str]:
    return {
        ".".join(m)
        for path in COMMITTED.rglob(f"*{suffix}")
        for m in re.findall(pattern, path.read_text())
    }


def test_declared_ranges_follow_the_generated_code():
    """pip must not resolve a protobuf or grpcio the committed code refuses at import."""
    (protobuf,) = _versions(r"Domain\.PUBLIC, (\d+), (\d+), (\d+),", "_pb2.py")
    (grpc,) = _versions(r'GRPC_GENERATED_VERSION = "(\d+)\.(\d+)\.(\d+)"', "_pb2_grpc.py")
    # a protobuf runtime supports generated code of its own major version and one before
    runtimes = f">={protobuf},<{int(protobuf.split('.')[0]) + 2}"
    generate = _generate_module()
    assert generate.declared("test", "grpcio-tools") == f"=={grpc}"
    for extra in ("serve", "test"):
        assert generate.declared(extra, "protobuf") == runtimes
        for name in ("grpcio", "grpcio-health-checking", "grpcio-reflection"):
            assert generate.declared(extra, name) == f">={grpc}", (extra, name)
