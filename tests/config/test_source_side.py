"""``data.source_side``: ``<k>r``, pixels, or (real datasets) ``original``; a bad value is named."""

from __future__ import annotations

import pytest

from tunnellab.errors import ConfigError


@pytest.mark.parametrize(
    ("value", "expected"), [("3r", "3r"), ("512", 512), ("original", "original")]
)
def test_real_datasets_take_a_multiple_pixels_or_original(compose, value, expected):
    cfg = compose("data=imagenet100", f"data.source_side={value}")
    assert cfg.data.source_side == expected
    assert compose("data=imagenet100").data.source_side == "4r"


@pytest.mark.parametrize("value", ["8", "5000", "17r", "0r", "huge", "2.5r"])
def test_bad_sides_name_the_key_the_value_and_what_is_allowed(compose, value):
    with pytest.raises(ConfigError) as err:
        compose("data=imagenet100", f"data.source_side={value}")
    message = str(err.value)
    assert f"data.source_side={value}" in message and "original" in message and "4r" in message
    assert "\n" not in message


def test_the_lab_has_no_original_and_renders_at_most_224(compose):
    assert compose("aug=rrc_flip").data.source_side == "4r"
    with pytest.raises(ConfigError, match=r"data.source_side=300.*\[16, 224\]"):
        compose("data.source_side=300")
    with pytest.raises(ConfigError, match=r"data\.source_side=original"):
        compose("data.source_side=original")
