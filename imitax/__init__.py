"""imitax: learning from demonstrations and deep Q-learning on Atari, in JAX."""

__version__ = "0.1.0"
