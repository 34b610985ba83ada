"""Build the TorchServe archive (NAME.mar and config.properties) of an exported model
directory: `stylex archive` as a script.

    python export/archive.py model_store/shapes/1 --out model_store --name shapes

Same flags, output and exit codes as `stylex archive`; the work is
`stylex.serving.torchserve.archive.build_archive`, with handlers/stylex_handler.py inside.
"""

import sys

from stylex.cli import main_for
from stylex.commands import archive

if __name__ == "__main__":
    sys.exit(main_for(archive, prog="export/archive.py"))
