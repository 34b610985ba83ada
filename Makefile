# Two entry points (see README): `make demo` runs the main job, `make test` runs the tests.
# `make train-demo` trains a small model from scratch on the CPU.
# Both create the virtual environment in .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
RUN    ?= runs/demo
# torch is pinned to the CPU build that stylex is tested with; set TORCH_SPEC to change it.
TORCH_SPEC ?= torch==2.13.0

.PHONY: setup demo train-demo test lint typecheck clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/pip install -q -c constraints.txt -e ".[test]"
	touch $@

setup: $(VENV)/.installed

# The main job: serve the shipped model (model_store/shapes32/7) with `stylex serve`, explain a
# few sample images through the gRPC client (IMAGE mode: each image's own StyleSpace), and stop
# the server gracefully. Explanations (JSON + counterfactual PNGs) land in $(RUN)/explanations/.
demo: setup
	$(BIN)/stylex demo --out $(RUN)

# Training from scratch on the CPU: classifier, a short `tiny` StylEx run (sample grids in
# $(RUN)/stylex/samples/), AttFind on 32 images and the HTML report $(RUN)/stylex/report.html.
train-demo: setup
	@test -f $(RUN)/classifier/classifier.pt || \
		$(BIN)/stylex train-classifier --data shapes --resolution 32 --num-images 4000 \
			--epochs 4 --out $(RUN)/classifier/classifier.pt
	$(BIN)/stylex train --preset tiny --data shapes --num-images 4000 \
		--classifier $(RUN)/classifier/classifier.pt --run-dir $(RUN)/stylex \
		$$(test -f $(RUN)/stylex/config.json && echo --resume)
	$(BIN)/stylex attfind $(RUN)/stylex --num-images 32
	$(BIN)/stylex report $(RUN)/stylex
	@echo "samples: $$(ls $(RUN)/stylex/samples/*.png | tail -1)"
	@echo "report:  $(RUN)/stylex/report.html"

lint: setup
	$(BIN)/ruff check src tests bench export handlers setup.py
	$(BIN)/ruff format --check src tests bench export handlers setup.py

# The type check of src/ ([tool.mypy] in pyproject.toml): clean, or the tests do not run.
typecheck: setup
	$(BIN)/mypy

# The suite, then its kernel-sensitive tests (`-m kernels`, listed in tests/conftest.py) again
# with oneDNN and MKL held to another instruction set than the host's: AVX2 where the CPU has
# AVX-512, SSE4.1 where it has only AVX2. A threshold that holds on one kind of host only fails
# here on any host (about a minute more).
OTHER_ISA = $(shell grep -qw avx512f /proc/cpuinfo 2>/dev/null && echo AVX2 AVX2 || echo SSE41 SSE4_2)

test: lint typecheck
	$(BIN)/pytest -q
	ONEDNN_MAX_CPU_ISA=$(word 1,$(OTHER_ISA)) MKL_ENABLE_INSTRUCTIONS=$(word 2,$(OTHER_ISA)) \
		$(BIN)/pytest -q -m kernels

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache .mypy_cache
