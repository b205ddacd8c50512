"""segblur: blur (or otherwise filter) the background of photos, videos and camera frames.

    >>> import segblur
    >>> out = segblur.Pipeline().process(rgb_image)        # blurred background, person kept
    >>> prob = segblur.Segmenter().predict(rgb_image)      # HxW person probability
"""

from .runtime import ModelError, Pipeline, RefineConfig, Segmenter, list_builtin_models
from .runtime.effects import list_effects

__version__ = "0.1.0"

__all__ = ["ModelError", "Pipeline", "RefineConfig", "Segmenter", "__version__", "list_builtin_models",
           "list_effects"]
