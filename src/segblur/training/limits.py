"""The largest values some training settings take, checked when the options are read (``segblur train``, ``segblur
tune``: this module imports nothing, so the parser stays cheap) and when a recipe's settings are validated.

Beyond them a run does not fail with one line but hangs, traces back or overflows, after it created its run folder.
"""

from __future__ import annotations

# DataLoader worker processes (each loader: training and validation). Each is a process with its own copy of the
# dataset object decoding and augmenting on one core; a few per GPU feed it, and 1000 hung the run while a thousand
# processes started (left behind as orphans). 64 is more than a loader can use on any machine this trains on.
MAX_WORKERS = 64
# The input size S (SxS): 8192 is 64 Mpx per view, beyond any segmentation recipe; 10**9 ended in a traceback.
MAX_IMAGE_SIZE = 8192
# The seed: torch's generators take 64 bits (2**70 was "Overflow when unpacking long long"); a signed 64-bit bound
# keeps it a plain integer in every file and log it is written to.
MAX_SEED = 2**63 - 1
