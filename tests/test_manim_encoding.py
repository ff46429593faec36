"""How render_manim asks Manim to encode: clips encoded while the next one is drawn, x264's
veryfast preset, and whatever the user's Manim configuration says kept."""

from __future__ import annotations

import pytest

pytest.importorskip("manim")

from manim import tempconfig

from explainer.scenes.render import encoding_options


def test_defaults_overlap_encoding_and_use_a_fast_preset():
    from manim import config

    with tempconfig({"max_inflight_encoders": 1, "video_encoder_options": {}}):
        assert encoding_options(config) == {
            "max_inflight_encoders": 2,
            "video_encoder_options": {"preset": "veryfast"},
        }


def test_the_users_own_encoder_settings_win():
    from manim import config

    mine = {"crf": "18", "preset": "slow"}
    with tempconfig({"max_inflight_encoders": 6, "video_encoder_options": mine}):
        assert encoding_options(config) == {
            "max_inflight_encoders": 6,
            "video_encoder_options": mine,
        }
    with tempconfig({"video_encoder_options": {"crf": "18"}}):
        assert encoding_options(config)["video_encoder_options"] == {
            "preset": "veryfast",
            "crf": "18",
        }


def test_a_manim_without_these_settings_gets_none():
    assert encoding_options({"frame_rate": 15}) == {}
