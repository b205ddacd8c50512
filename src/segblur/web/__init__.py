"""The page served by ``segblur serve``: the same ONNX models and compositing rules as the Python runtime, in a browser.

``server`` serves the page, the models and their metadata; ``assets`` knows the onnxruntime-web files the page needs
(installed from npm at build time, never fetched at run time); ``browser`` drives the page in headless Chromium.
"""
