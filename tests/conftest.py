import os
import tempfile
from pathlib import Path

# XLA's CPU thread pool can deadlock on some graphs; the documented workaround (see FIELD_NOTES).
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
# Many tests compile the same programs (the Nature CNN's chunks at a tiny batch, CartPole's): a persistent
# compilation cache, inherited by the command lines the tests start, compiles each once.
os.environ.setdefault(
    "JAX_COMPILATION_CACHE_DIR", str(Path(tempfile.gettempdir()) / "imitax-tests-jax-cache")
)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")

import jax

# As in dqn_zoo: implicit rank promotion hides shape bugs, so tests make it an error.
jax.config.update("jax_numpy_rank_promotion", "raise")
