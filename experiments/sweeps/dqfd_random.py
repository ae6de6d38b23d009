"""DQfD's fast preset on Pong with demonstrations recorded by the built-in expert: a random search over
the margin, the L2 weight and the learning rate, 12 draws with two seeds each (24 runs).

    imitax record expert --env Pong --out demos/pong-expert --min-steps 50000
    imitax sweep experiments/sweeps/dqfd_random.py --workers 2
"""

SPEC = {
    "algo": "dqfd",
    "preset": "fast",
    "base": {"demos": ["demos/pong-expert"], "total_steps": 500_000},
    "random": {
        "margin": {"uniform": [0.4, 1.0]},
        "weight_decay": {"loguniform": [1e-6, 1e-4]},
        "learning_rate": [6.25e-5, 1e-4, 2.5e-4],
    },
    "samples": 12,
    "search_seed": 0,
    "seeds": [0, 1],
    "games": ["Pong"],
}
