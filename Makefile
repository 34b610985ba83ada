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

test: lint typecheck
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache .mypy_cache
