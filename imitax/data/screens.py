"""Raw Atari screens -> the grayscale ALE would give, and the environment's resize: the pieces of the frames
an imitax agent sees (`imitax.data.importers` max-pools them over frame-skip groups as `AtariEnv` does).

ALE computes a screen's grayscale from the palette index of each pixel, not from its RGB: the grayscale of
palette colour i is ``round(0.2989 r + 0.5870 g + 0.1140 b)`` of that colour's RGB (ALE's
``src/ale/common/ColourPalette.cpp``, ``convertGrayscale``). A screen saved as RGB keeps the palette colour,
so for a screen in ALE's own palette, `AleGrayscale` gives `getScreenGrayscale()` bit for bit (the tests
check every pixel of several games, and all 128 colours; on those 128 colours OpenCV's RGB2GRAY happens to
agree too). What breaks a generic conversion is a palette that is not ALE's: the Atari Grand Challenge ran
Javatari.js, whose NTSC palette differs from ALE's (its colour 1 is (64, 64, 64), gray 64, where ALE shows
(74, 74, 74), gray 74), and Atari-HEAD's frame-averaged trials and JPEG-encoded Minari datasets hold blended
colours. Such colours are mapped as `off_palette` says, and counted.
"""

from __future__ import annotations

from collections import Counter

import cv2
import numpy as np

from imitax.data.dataset import DatasetError

# ALE's NTSC palette, colour i = TIA colour value 2i, as ale-py 0.12.1 shows it: measured by pairing
# `getScreen()` (palette indices) with `getScreenRGB()` on a program that draws all 128 colours
# (`tests/test_importers.py` measures it again and compares).
_ALE_NTSC_HEX = (
    "000000 4a4a4a 6f6f6f 8e8e8e aaaaaa c0c0c0 d6d6d6 ececec "
    "484800 69690f 86861d a2a22a bbbb35 d2d240 e8e84a fcfc54 "
    "7c2c00 904811 a26221 b47a30 c3903d d2a44a dfb755 ecc860 "
    "901c00 a33915 b55328 c66c3a d5824a e39759 f0aa67 fcbc74 "
    "940000 a71a1a b83232 c84848 d65c5c e46f6f f08080 fc9090 "
    "840064 97197a a8308f b846a2 c659b3 d46cc3 e07cd2 ec8ce0 "
    "500084 68199a 7d30ad 9246c0 a459d0 b56ce0 c57cee d48cfc "
    "140090 331aa3 4e32b5 6848c6 7f5cd5 956fe3 a980f0 bc90fc "
    "000094 181aa7 2d32b8 4248c8 545cd6 656fe4 7580f0 8490fc "
    "001c88 183b9d 2d57b0 4272c2 548ad2 65a0e1 75b5ef 84c8fc "
    "003064 185080 2d6d98 4288b0 54a0c5 65b7d9 75cceb 84e0fc "
    "004030 18624e 2d8169 429e82 54b899 65d1ae 75e7c2 84fcd4 "
    "004400 1a661a 328432 48a048 5cba5c 6fd26f 80e880 90fc90 "
    "143c00 355f18 527e2d 6e9c42 87b754 9ed065 b4e775 c8fc84 "
    "303800 505916 6d762b 88923e a0ab4f b7c25f ccd86e e0ec7c "
    "482c00 694d14 866a26 a28638 bb9f47 d2b656 e8cc63 fce070"
)
ALE_NTSC_RGB = np.frombuffer(bytes.fromhex(_ALE_NTSC_HEX), np.uint8).reshape(128, 3)
"""(128, 3) uint8: RGB of ALE's NTSC palette colours."""

OFF_PALETTE_MODES = ("nearest", "luminance", "error")
_UNKNOWN = -1


def ale_luminance(rgb: np.ndarray) -> np.ndarray:
    """ALE's grayscale formula applied to any RGB values (..., 3) -> (...) uint8, in double precision and in
    ALE's order of operations, rounding halves away from zero as C's `round` does."""
    rgb = np.asarray(rgb, np.float64)
    lum = rgb[..., 0] * 0.2989 + rgb[..., 1] * 0.5870 + rgb[..., 2] * 0.1140
    return np.floor(lum + 0.5).astype(np.uint8)


ALE_NTSC_GRAY = ale_luminance(ALE_NTSC_RGB)
"""(128,) uint8: ALE's grayscale of each palette colour."""


def _pack(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) RGB -> (...) uint32 0xRRGGBB, by viewing B, G, R, 0 bytes as little-endian words."""
    words = np.zeros((*rgb.shape[:-1], 4), np.uint8)
    words[..., :3] = rgb[..., ::-1]
    return words.view("<u4")[..., 0]


class AleGrayscale:
    """Converts RGB screens to ALE's grayscale, counting the pixels whose colour is not in ALE's palette.

    Args:
      off_palette: what a colour outside ALE's palette becomes:
        "nearest": the grayscale of the nearest palette colour (squared RGB distance). Right for a lossless
          screen from an emulator with a slightly different palette, wrong where the two palettes disagree
          more than their neighbouring colours do (Javatari's vs ALE's: 109 of 128 colours snap back to their
          own, see `source_palette`).
        "luminance": ALE's formula applied to the colour itself: the natural value for blended colours
          (frame averaging, JPEG).
        "error": a `DatasetError` naming the screen.
      source_palette: (128, 3) RGB of the palette the screens were drawn with, colour i standing for ALE's
        colour i (e.g. Javatari's NTSC palette, javatari.js `TiaPalettes.js`, for the Atari Grand
        Challenge): its colours then map exactly.
    """

    def __init__(self, off_palette: str = "nearest", source_palette: np.ndarray | None = None):
        if off_palette not in OFF_PALETTE_MODES:
            raise ValueError(f"off_palette must be one of {OFF_PALETTE_MODES}, got {off_palette!r}")
        self.off_palette = off_palette
        # A table over all 2**24 colours (32 MiB): the grayscale of palette colours, 256 + the grayscale of
        # other colours met so far, UNKNOWN for the rest.
        self._table = np.full(1 << 24, _UNKNOWN, np.int16)
        self._table[_pack(ALE_NTSC_RGB)] = ALE_NTSC_GRAY
        if source_palette is not None:
            source_palette = np.asarray(source_palette)
            if source_palette.shape != (128, 3):
                raise ValueError(f"source_palette must be (128, 3) RGB, got {source_palette.shape}")
            # A source palette overrides ALE's colours it shares.
            self._table[_pack(source_palette.astype(np.uint8))] = ALE_NTSC_GRAY
        self.pixels = 0
        self.off_pixels = 0
        self.off_colours: Counter[int] = Counter()

    def __call__(self, rgb: np.ndarray, where: str = "screen") -> np.ndarray:
        """(H, W, 3) uint8 RGB -> (H, W) uint8 ALE grayscale."""
        if rgb.ndim != 3 or rgb.shape[-1] != 3:
            raise DatasetError(f"{where}: expected an RGB screen (H, W, 3), got shape {rgb.shape}")
        packed = _pack(rgb)
        value = self._table[packed]
        unknown = value == _UNKNOWN
        if unknown.any():
            self._learn(np.unique(packed[unknown]), where)
            value = self._table[packed]
        self.pixels += packed.size
        off = value >= 256
        if off.any():
            colours, counts = np.unique(packed[off], return_counts=True)
            self.off_pixels += int(counts.sum())
            self.off_colours.update(dict(zip(colours.tolist(), counts.tolist(), strict=True)))
        return (value & 255).astype(np.uint8)

    def _learn(self, colours: np.ndarray, where: str) -> None:
        """Enters colours outside the palette in the table, with the grayscale `off_palette` gives them."""
        rgb = np.stack([(colours >> 16) & 255, (colours >> 8) & 255, colours & 255], -1).astype(np.int64)
        if self.off_palette == "error":
            shown = ", ".join(f"#{int(c):06x}" for c in colours[:5])
            raise DatasetError(
                f"{where}: {len(colours)} colour(s) outside ALE's palette ({shown}...). Import with "
                f"off_palette='nearest' (another emulator's palette) or 'luminance' (blended colours)."
            )
        if self.off_palette == "nearest":
            palette = ALE_NTSC_RGB.astype(np.int64)
            distance = ((rgb[:, None, :] - palette[None]) ** 2).sum(-1)  # (colours, 128)
            gray = ALE_NTSC_GRAY[distance.argmin(1)]
        else:
            gray = ale_luminance(rgb)
        self._table[colours] = 256 + gray.astype(np.int16)

    @property
    def off_fraction(self) -> float:
        """Share of all converted pixels whose colour was not in the palette."""
        return self.off_pixels / self.pixels if self.pixels else 0.0

    def summary(self) -> str | None:
        """A warning for the import report, or None when every pixel was a palette colour."""
        if not self.off_pixels:
            return None
        top = ", ".join(f"#{c:06x}" for c, _ in self.off_colours.most_common(5))
        return (
            f"{self.off_pixels} of {self.pixels} pixels ({100 * self.off_fraction:.2f}%) had colours outside "
            f"ALE's palette ({len(self.off_colours)} distinct, most common {top}); they were mapped by "
            f"off_palette={self.off_palette!r}, so those frames can differ from what ALE would show."
        )


def resize(frame: np.ndarray, size: int) -> np.ndarray:
    """The environment's resize: OpenCV area interpolation to size x size."""
    return cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA)
