"""Make the chart font shipped in bot/fonts/: Noto Sans CJK SC cut down to what charts need.

The charts' labels are unit names, people's names and our own texts, so the subset keeps
every character of GB 2312 (6,763 hanzi and its symbols), ASCII, Latin-1 and the CJK and
full-width punctuation. Characters outside it fall back to any CJK font installed on the
machine (see bot/charts.py). Run once by a developer, not at install time:

    pip install fonttools
    python scripts/subset_font.py NotoSansCJKsc-Regular.otf

The source is Noto Sans CJK SC Regular (SIL Open Font License 1.1, bot/fonts/OFL.txt), for
example from https://github.com/notofonts/noto-cjk or the PyPI package `mplfonts`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from fontTools import subset

OUT = Path(__file__).resolve().parent.parent / "bot" / "fonts" / "NotoSansCJKsc-Subset.otf"


def gb2312() -> set[str]:
    chars: set[str] = set()
    for high in range(0xA1, 0xF8):
        for low in range(0xA1, 0xFF):
            try:
                chars.add(bytes([high, low]).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    return chars


def wanted() -> set[str]:
    chars = gb2312()
    ranges = [(0x20, 0x7E), (0xA0, 0xFF), (0x2000, 0x206F), (0x3000, 0x303F), (0xFF00, 0xFFEF)]
    for start, end in ranges:
        chars.update(chr(c) for c in range(start, end + 1))
    chars.update("￥¥€•…—–·✓✗▓░█")
    return chars


def main(source: str) -> None:
    options = subset.Options()
    options.layout_features = ["kern", "palt"]  # horizontal Chinese text needs no more
    options.name_IDs = ["*"]  # keep the typographic family name (ID 16) matplotlib shows
    options.notdef_outline = True
    options.hinting = False
    font = subset.load_font(source, options)
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=[ord(c) for c in sorted(wanted())])
    subsetter.subset(font)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    subset.save_font(font, str(OUT), options)
    print(f"{OUT}: {OUT.stat().st_size} bytes, {len(font.getGlyphOrder())} glyphs")


if __name__ == "__main__":
    main(sys.argv[1])
