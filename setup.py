"""Build hook: the wheel carries the shipped model and the TorchServe handler as package data.

The model lives once in git, at model_store/shapes32/7 (where the docs, the container and the
Kubernetes manifests point), the handler at handlers/stylex_handler.py. A wheel has no
repository around it, so building one copies them to stylex/model_store/shapes32/7 and
stylex/handlers/ inside the package, where `stylex.runtime.model_dir.shipped_model_dir` and
`stylex.serving.torchserve.archive.default_handler` find them. Editable installs run from the
checkout and read them in place. All other metadata is in pyproject.toml.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SHIPPED_MODEL = Path("model_store") / "shapes32" / "7"
HANDLER = Path("handlers") / "stylex_handler.py"


class BuildPyWithModel(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        source = Path(__file__).resolve().parent / SHIPPED_MODEL
        if not (source / "manifest.json").is_file():
            raise SystemExit(f"{source} is missing: the wheel would not carry the shipped model")
        target = Path(self.build_lib) / "stylex" / SHIPPED_MODEL
        self.mkpath(str(target))
        for file in sorted(source.iterdir()):
            if file.is_file():
                self.copy_file(str(file), str(target / file.name), preserve_mode=False)
        handler = Path(__file__).resolve().parent / HANDLER
        self.mkpath(str(Path(self.build_lib) / "stylex" / HANDLER.parent))
        self.copy_file(str(handler), str(Path(self.build_lib) / "stylex" / HANDLER))


setup(cmdclass={"build_py": BuildPyWithModel})
