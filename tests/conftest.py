import os

# XLA's CPU thread pool can deadlock on some graphs; the documented workaround (see FIELD_NOTES).
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import jax

# As in dqn_zoo: implicit rank promotion hides shape bugs, so tests make it an error.
jax.config.update("jax_numpy_rank_promotion", "raise")
