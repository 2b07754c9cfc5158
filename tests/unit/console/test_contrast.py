"""The console's colours keep text at WCAG AA contrast (4.5:1) where text is drawn on them."""

import re
from pathlib import Path

import pytest

import ledger.console

CSS = (Path(ledger.console.__file__).parent / "static" / "console.css").read_text()
COLOURS = dict(re.findall(r"--([a-z]+):\s*(#[0-9a-f]{6})", CSS))
WHITE, HEADER = "#ffffff", "#f6f8fa"


def luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


@pytest.mark.parametrize(
    ("text", "background"),
    [
        ("ink", WHITE),
        ("ink", HEADER),
        ("muted", WHITE),
        ("muted", HEADER),
        ("accent", WHITE),
        (WHITE, "accent"),  # buttons
        ("failed", WHITE),  # errors and open discrepancies
        *((WHITE, state) for state in ("pending", "fulfilled", "failed", "refunded")),  # keys
    ],
)
def test_text_on_its_background_reads_at_aa_contrast(text, background):
    pair = [COLOURS.get(c, c) for c in (text, background)]
    assert contrast(*pair) >= 4.5, f"{text} on {background}: {contrast(*pair):.2f}"
