"""Behaviour cloning (Pomerleau 1991; Bain & Sammut 1995) of demonstrations, over games and seeds.

Demonstrations come from `--demos`, or are recorded by the game's built-in expert (50,000 steps). full:
100,000 updates, cpu: 20,000, both with random shifts; tiny: a smoke test.

    python experiments/bc.py --games Pong --seeds 0 1 2
    python experiments/bc.py --games Pong --demos demos/pong-dart -- --label-smoothing 0.1
"""

from imitax.experiments import Budget, Setting, run_setting

SETTING = Setting(
    name="bc",
    algo="bc",
    budgets={
        "full": Budget("default", {"pretrain_updates": 100_000}),
        "cpu": Budget("default"),
        "tiny": Budget("default", {"pretrain_updates": 20}),
    },
    demo_steps={"tiny": 200, "cpu": 50_000, "full": 50_000},
)

if __name__ == "__main__":
    raise SystemExit(run_setting(SETTING))
