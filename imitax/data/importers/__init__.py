"""Importers of public human Atari datasets into imitax's demonstration datasets (`imitax.data.dataset`).

Each importer turns the raw screens of a recording into the frames an imitax agent sees under a preset,
exactly as `imitax.envs.AtariEnv` would show them for the same emulator frames. The sources, one module each:

- `agc.import_agc`: the Atari Grand Challenge dataset (Kurin et al. 2017, arXiv:1705.10998), one text row
  and one PNG screen per 60 Hz emulator frame.
- `atari_head.import_atari_head`: Atari-HEAD (Zhang et al. 2019, arXiv:1903.06754), one row, one PNG screen
  and the gaze per decision (read it back with `episode_gaze`).
- `minari.import_minari`: a Minari dataset of ALE screens (e.g. `minari.DataCollector` on `ALE/Pong-v5` with
  `frameskip=1`), or of frames already preprocessed.

What they share: `frames` (how emulator frames become agent steps, the full explanation is there; mapping
actions; reading screens), `writing` (checks before any work, and writing without leaving half a dataset)
and `report` (`ImportReport`, what every import returns).
"""

from imitax.data.importers.agc import AGC_GAMES, import_agc
from imitax.data.importers.atari_head import ATARI_HEAD_HEADER as ATARI_HEAD_HEADER
from imitax.data.importers.atari_head import episode_gaze, import_atari_head
from imitax.data.importers.frames import SCREEN_SHAPE as SCREEN_SHAPE
from imitax.data.importers.frames import UNKNOWN_ACTION_MODES as UNKNOWN_ACTION_MODES
from imitax.data.importers.minari import import_minari
from imitax.data.importers.report import ImportReport
from imitax.data.importers.report import Progress as Progress

__all__ = [
    "AGC_GAMES",
    "ImportReport",
    "episode_gaze",
    "import_agc",
    "import_atari_head",
    "import_minari",
]
