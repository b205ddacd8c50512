"""The runtime wing never imports torch: users who only blur install numpy, OpenCV and ONNX Runtime."""

from __future__ import annotations

import subprocess
import sys

# Imports every torch-free module (packages walked, so new modules are covered), then builds the CLI parser
# (which imports every subcommand module of segblur.cli); names the first module after which torch or
# segblur.training is loaded.
CHECK = """
import importlib, pkgutil, sys
import segblur.bench, segblur.cli, segblur.media, segblur.runtime
names = ["segblur", "segblur.data", "segblur.eval.metrics", "segblur.eval.evaluation", "segblur.quantize",
         "segblur.progress"]
for pkg in (segblur.runtime, segblur.media, segblur.bench, segblur.cli):
    names += [f"{pkg.__name__}.{m.name}" for m in pkgutil.iter_modules(pkg.__path__)]
def culprit():
    return [m for m in ("torch", "segblur.training") if m in sys.modules]
for name in names:
    importlib.import_module(name)
    if culprit():
        sys.exit(f"importing {name} loaded {culprit()}")
from segblur.cli.main import build_parser
build_parser().parse_args(["image", "x.jpg", "-o", "out"])
if culprit():
    sys.exit(f"building the CLI parser loaded {culprit()}")
print(len(names))
"""


def test_runtime_media_bench_and_cli_do_not_import_torch() -> None:
    res = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    # The walk really covered the packages (runtime, media, bench and cli hold well over 20 modules).
    assert int(res.stdout.strip()) > 20
