"""media.video.codecs: encoder settings."""

from __future__ import annotations

from segblur.media.video.codecs import codec_options


def test_default_x264_settings() -> None:
    """segblur's own speed setting applies only when the user names no preset."""
    assert codec_options("libx264", None) == ({"crf": "23", "preset": "veryfast", "x264-params": "subme=1"}, None)
    assert codec_options("libx264", 18, "slow") == ({"crf": "18", "preset": "slow"}, None)
    assert codec_options("libx265", None)[0] == {"crf": "28", "preset": "veryfast"}
