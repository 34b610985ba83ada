"""Export a trained run (after `stylex attfind`) to a versioned model directory and check every
graph against PyTorch: `stylex export --parity` as a script.

    python export/export_model.py RUN --out model_store --name shapes --version 1

Same flags, output (JSON with the model directory and the parity figures) and exit codes as
`stylex export`; the work is `stylex.export.export_model`.
"""

import sys

from stylex.cli import main_for
from stylex.commands import export

if __name__ == "__main__":
    sys.exit(main_for(export, ["--parity", *sys.argv[1:]], prog="export/export_model.py"))
