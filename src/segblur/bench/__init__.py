"""Speed measurement: segblur's pipeline stage by stage, and a MediaPipe-style reference in the same run."""
