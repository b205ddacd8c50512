# segblur: two commands set everything up on a fresh machine.
#   make demo   create .venv, install segblur, blur the bundled sample image into out/
#   make test   create/update .venv with the dev and train extras, run ruff and the whole test suite
#   make web    the page of `segblur serve`: onnxruntime-web from npm (pinned by package-lock.json) into the package
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install --disable-pip-version-check -q -c constraints.txt

.PHONY: demo test lint bench reference clean web

$(VENV)/.created:
	$(PYTHON) -m venv $(VENV)
	touch $@

$(VENV)/.runtime: $(VENV)/.created pyproject.toml
	$(PIP) -e .
	touch $@

$(VENV)/.dev: $(VENV)/.created pyproject.toml constraints.txt
	$(PIP) torch==2.13.0
	$(PIP) -e ".[dev,train,tune,video,camera]"
	touch $@ $(VENV)/.runtime

# Without npm the rest still installs and runs; `segblur serve` then says what is missing.
WEB_VENDOR := src/segblur/web/static/vendor/onnxruntime-web/VERSION
web: $(WEB_VENDOR)
$(WEB_VENDOR): package.json package-lock.json src/segblur/web/assets.py
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --no-audit --no-fund --loglevel=error && $(PYTHON) src/segblur/web/assets.py node_modules/onnxruntime-web; \
	else echo "make: npm not found: skipping the web page's onnxruntime-web files (install Node.js and npm for segblur serve)"; fi

SAMPLE = $$($(PY) -c "import segblur.assets as a; print(a.sample_path())")

demo: $(VENV)/.runtime web
	$(VENV)/bin/segblur image $(SAMPLE) -o out/astronaut-blur.jpg
	$(VENV)/bin/segblur image $(SAMPLE) -o out/astronaut-bokeh.jpg --effect bokeh
	$(VENV)/bin/segblur image $(SAMPLE) -o out/astronaut-pixelate.jpg --effect pixelate
	$(VENV)/bin/segblur image $(SAMPLE) -o out/astronaut-greenscreen.png --effect color
	$(VENV)/bin/segblur mask $(SAMPLE) -o out/
	@echo "demo: results are in $(CURDIR)/out/ (astronaut-*.jpg/png, astronaut.png is the mask)"

test: $(VENV)/.dev web
	$(VENV)/bin/ruff check src tests benchmarks
	@command -v chromium >/dev/null 2>&1 || echo "make: chromium not found: the browser tests (tests/web) will be skipped (apt-get install chromium)"
	$(PY) -m pytest -q -rs

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check src tests benchmarks

# The MediaPipe-style reference (LiteRT + the selfie model from the mediapipe==0.10.21 wheel).
reference: $(VENV)/.runtime
	$(PIP) "ai-edge-litert==2.3.0"
	$(PY) benchmarks/fetch_reference.py --dest .cache/reference

bench: reference
	$(VENV)/bin/segblur benchmark --reference .cache/reference/selfie_segmentation.tflite --stream

clean:
	rm -rf $(VENV) out .cache .pytest_cache node_modules src/segblur/web/static/vendor
