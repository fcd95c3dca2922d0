# The two commands a newcomer needs: `make demo` and `make test`. Each sets up what it needs first.
# `make lint` is the gate CI runs first (ruff lint + format check, mypy; configured in pyproject.toml).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CHECKOV_VENV := .venv-checkov
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CHECKPOINT_DISABLE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup demo test lint bench clean
setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[infra,launcher,torch,dev]'
	touch $@

# Checkov in its own venv: its pins (boto3, packaging, ...) differ from ours. The version is pyproject's `checkov` extra.
$(CHECKOV_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet "$$($(PYTHON) -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["checkov"][0])')"
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

demo: setup
	$(BIN)/python -m ocift.demo

test: setup $(CHECKOV_VENV)/.installed image-tools
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The launcher image (image/Dockerfile). `make image` builds it on the pinned CUDA PyTorch base
# (pulled from Docker Hub); `make image-local` on the CPU stand-in image/build-base.sh makes.
IMAGE ?= localhost/ocift-launcher:$(shell $(PYTHON) -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
.PHONY: image image-local image-tools
image: image-tools
	image/build.sh --tag $(IMAGE)

image-local: image-tools
	image/build.sh --tag $(IMAGE) --base "$$(image/build-base.sh)"

# buildah and debootstrap: Debian packages, installed when missing (the image test builds and runs the image).
image-tools:
	command -v buildah >/dev/null && command -v debootstrap >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq buildah debootstrap >/dev/null; }

# The CPU benchmarks (each prints a baseline beside its numbers and appends to bench/RESULTS.md).
bench: setup
	$(BIN)/python bench/synth.py
	$(BIN)/python bench/launcher.py
	$(BIN)/python bench/train.py
	$(BIN)/python bench/comm_model.py

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) node_modules cdktf.out demo-out
