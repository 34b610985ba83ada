"""Build hook: the wheel carries the shipped model as package data.

The model lives once in git, at model_store/shapes32/3 (where the docs, the container and the
Kubernetes manifests point). A wheel has no repository around it, so building one copies that
folder to stylex/model_store/shapes32/3 inside the package, where
`stylex.runtime.model_dir.shipped_model_dir` finds it. Editable installs run from the checkout
and read the folder in place. All other metadata is in pyproject.toml.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SHIPPED_MODEL = Path("model_store") / "shapes32" / "3"


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


setup(cmdclass={"build_py": BuildPyWithModel})
