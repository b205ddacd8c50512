"""Motion between two frames at the model's resolution: where each pixel of this frame was in the previous one.

The temporal smoothers carry a probability map from frame to frame; to follow a moving arm instead of trailing
it, the previous map is *warped* by the motion before it is blended with the new one. The motion is DIS optical
flow (Kroeger et al., ECCV 2016; OpenCV's ultrafast preset) between the two frames' grey thumbnails, the
low-resolution guide the pipeline computes anyway: about 1.2 ms of CPU at 192x192.

Each map may cover a different part of its frame (a crop around the subject, :mod:`.subject`): a ``box`` (x0, y0,
x1, y1) in frame pixels, None for the whole frame. The warp then also carries the previous map from its box into
this one. Where the warped previous thumbnail still differs from this one (an occlusion, a flow error, a cut) the
``residual`` says so, and the smoother takes the new probability there.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .workspace import Workspace

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in frame pixels, end exclusive
MIN_FLOW_SIDE = 12  # DIS needs a thumbnail at least this wide or high
OUTSIDE = -1.0  # what a warp gives where the previous map has no data (outside its box or frame)
# The flow is followed where it leaves a residual at least this much (1 %, 2.5 grey levels) below standing still.
FLOW_GAIN = 0.01


def crop_view(image: np.ndarray, box: Box | None) -> np.ndarray:
    """The part of ``image`` inside ``box`` as a view; all of it when ``box`` is None."""
    return image if box is None else image[box[1]:box[3], box[0]:box[2]]


def full_box(frame_shape: tuple[int, ...]) -> Box:
    """The box of a whole frame of ``frame_shape`` (H, W, ...)."""
    return 0, 0, int(frame_shape[1]), int(frame_shape[0])


def box_affine(box: Box, prev_box: Box, size: tuple[int, int],
               prev_size: tuple[int, int] | None = None) -> tuple[float, float, float, float]:
    """(ax, bx, ay, by): grid pixel (u, v) of a ``size`` = (w, h) map over ``box`` is at (ax u + bx, ay v + by) in
    the ``prev_size`` map (default: the same size) over ``prev_box`` (pixel centres; identity for equal boxes and
    sizes). Sizes differ when a model that keeps the aspect ratio looks at crops of another shape."""
    w, h = size
    pw, ph = prev_size or size
    sx, sy = (box[2] - box[0]) / w, (box[3] - box[1]) / h
    px, py = (prev_box[2] - prev_box[0]) / pw, (prev_box[3] - prev_box[1]) / ph
    return sx / px, (box[0] - prev_box[0] + 0.5 * sx) / px - 0.5, sy / py, (box[1] - prev_box[1] + 0.5 * sy) / py - 0.5


@dataclass
class Warp:
    """Where each pixel of this frame's map was in the previous map (``map_x``, ``map_y``, for :func:`cv2.remap`),
    and how badly the warped previous thumbnail matches this one (``residual``, 0..1 per pixel; ``mean``)."""

    map_x: np.ndarray
    map_y: np.ndarray
    residual: np.ndarray
    mean: float

    def apply(self, prev: np.ndarray, dst: np.ndarray | None = None) -> np.ndarray:
        """``prev`` (a map over the previous box) warped onto this frame's grid; :data:`OUTSIDE` where unknown."""
        return cv2.remap(prev, self.map_x, self.map_y, cv2.INTER_LINEAR, dst=dst, borderMode=cv2.BORDER_CONSTANT,
                         borderValue=OUTSIDE)


class Motion:
    """Estimates :class:`Warp` s between consecutive thumbnails; owns its flow engine and buffers (one per stream).

    ``flow=False`` leaves out the optical flow (only the box change is followed): the warp is then the identity
    for a fixed box, as a plain moving average assumes.
    """

    def __init__(self, flow: bool = True, prefix: str = "motion") -> None:
        self.flow = flow
        self._ws = Workspace()
        self._p = prefix
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST) if flow else None

    def _grid(self, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        gx, gy = self._ws.get(self._p + ".gx", shape), self._ws.get(self._p + ".gy", shape)
        if gx[0, -1] != shape[1] - 1 or gy[-1, 0] != shape[0] - 1:  # (re)allocated: fill once
            gx[:] = np.arange(shape[1], dtype=np.float32)
            gy[:] = np.arange(shape[0], dtype=np.float32)[:, None]
        return gx, gy

    def estimate(self, thumb: np.ndarray, box: Box, prev_thumb: np.ndarray, prev_box: Box) -> Warp:
        """The warp from the previous map (over ``prev_box``) to this one (over ``box``); thumbnails float32 0..1,
        the previous one may be of another size (it is resampled onto this grid).

        The result's arrays are this object's buffers, valid until the next call.
        """
        ws, p, shape = self._ws, self._p, thumb.shape
        h, w = shape
        gx, gy = self._grid(shape)
        ax, bx, ay, by = box_affine(box, prev_box, (w, h), (prev_thumb.shape[1], prev_thumb.shape[0]))
        # Two crops with one origin and cell size but maps of different sizes have an identity affine, yet the
        # previous thumbnail still has to be resampled onto this grid.
        moved_box = (ax, bx, ay, by) != (1.0, 0.0, 1.0, 0.0) or prev_thumb.shape != shape
        map_x, map_y = ws.get(p + ".mx", shape), ws.get(p + ".my", shape)
        if moved_box:  # the previous thumbnail seen through this box (replicated where it has no data)
            np.multiply(gx, ax, out=map_x)
            map_x += bx
            np.multiply(gy, ay, out=map_y)
            map_y += by
            prev_here = cv2.remap(prev_thumb, map_x, map_y, cv2.INTER_LINEAR, dst=ws.get(p + ".ph", shape),
                                  borderMode=cv2.BORDER_REPLICATE)
        else:
            prev_here = prev_thumb
        # Residual of standing still, as a 3x3 mean: one noisy thumbnail pixel is not motion.
        still = cv2.absdiff(thumb, prev_here, dst=ws.get(p + ".d0", shape))
        residual = cv2.blur(still, (3, 3), dst=ws.get(p + ".res", shape), borderType=cv2.BORDER_REPLICATE)
        np.copyto(map_x, gx)
        np.copyto(map_y, gy)
        if self._dis is not None and max(h, w) >= MIN_FLOW_SIDE:
            a = cv2.convertScaleAbs(thumb, dst=ws.get(p + ".a8", shape, np.uint8), alpha=255)
            b = cv2.convertScaleAbs(prev_here, dst=ws.get(p + ".b8", shape, np.uint8), alpha=255)
            flow = self._dis.calc(a, b, None)
            fx, fy = cv2.add(gx, flow[..., 0], dst=ws.get(p + ".fx", shape)), \
                cv2.add(gy, flow[..., 1], dst=ws.get(p + ".fy", shape))
            warped = cv2.remap(prev_here, fx, fy, cv2.INTER_LINEAR, dst=ws.get(p + ".wt", shape),
                               borderMode=cv2.BORDER_REPLICATE)
            moved = cv2.absdiff(thumb, warped, dst=ws.get(p + ".d1", shape))
            moved = cv2.blur(moved, (3, 3), dst=ws.get(p + ".d1b", shape), borderType=cv2.BORDER_REPLICATE)
            # Follow the flow only where it explains the picture clearly better than standing still: on a still
            # or flat area the flow of sensor noise would otherwise jitter the map from frame to frame.
            use = np.less(moved + FLOW_GAIN, residual, out=ws.get(p + ".use", shape, np.bool_))
            np.copyto(map_x, fx, where=use)
            np.copyto(map_y, fy, where=use)
            np.copyto(residual, moved, where=use)
        if not moved_box:
            return Warp(map_x, map_y, residual, cv2.mean(residual)[0])
        # Compose: this grid -> (flow) -> this grid's point -> (box change) -> the previous grid. The mean residual
        # counts only what the previous map covers (the rest is new, not a change).
        map_x *= ax
        map_x += bx
        map_y *= ay
        map_y += by
        ph, pw = prev_thumb.shape  # positions are in the previous grid now
        known = (map_x >= 0) & (map_x <= pw - 1) & (map_y >= 0) & (map_y <= ph - 1)
        mean = float(residual[known].mean()) if known.any() else float("inf")
        return Warp(map_x, map_y, residual, mean)
