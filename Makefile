# Two commands matter: `make demo` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DEMO   ?= demo-output

.PHONY: setup demo test test-fast lint lab clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev,notebooks]"
	touch $(STAMP)

setup: $(STAMP)

## Caption every image in data/samples/ with the shipped model: prints captions, writes
## $(DEMO)/captions.json, one overlay PNG per image in $(DEMO)/overlays and $(DEMO)/grid.png.
demo: setup
	rm -f $(DEMO)/captions.json
	$(BIN)/captioning caption data/samples --output $(DEMO)/captions.json \
		--overlay $(DEMO)/overlays --grid $(DEMO)/grid.png
	@echo "demo outputs are in $(DEMO)/"

## Unit + integration tests, ruff, and every notebook top to bottom in QUICK mode.
test: setup
	$(BIN)/ruff check .
	QUICK=1 MPLBACKEND=Agg $(BIN)/python -m pytest -q tests \
		$(if $(wildcard notebooks/*.ipynb),--nbmake notebooks --nbmake-timeout=900,)

test-fast: setup
	$(BIN)/python -m pytest -q tests -m "not integration"

lint: setup
	$(BIN)/ruff check .

lab: setup
	$(BIN)/jupyter lab --notebook-dir=notebooks

clean:
	rm -rf $(DEMO) .pytest_cache
