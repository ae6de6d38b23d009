"""DQfD, Hester et al. 2018 ("Deep Q-learning from Demonstrations"), over games and seeds.

Demonstrations come from `--demos`, or are recorded by the game's built-in expert. full: the paper's
setting (750k pre-training updates, PER with the demonstration bonus, 10-step returns, margin 0.8, L2
1e-5, 50M steps); cpu: the fast preset (5k pre-training updates, 1M steps); tiny: a smoke test.

    python experiments/dqfd_2018.py --games Pong --seeds 0 1 --budget cpu
    python experiments/dqfd_2018.py --games Pong --demos demos/me -- --total-steps 200000
"""

from imitax.experiments import Budget, Setting, run_setting

SETTING = Setting(
    name="dqfd_2018",
    algo="dqfd",
    budgets={
        "full": Budget("paper"),
        "cpu": Budget("fast"),
        "tiny": Budget(
            "fast", {"pretrain_updates": 20, "total_steps": 128, "replay_capacity": 1000, "n_step": 3}
        ),
    },
    demo_steps={"tiny": 200, "cpu": 50_000, "full": 50_000},
)

if __name__ == "__main__":
    raise SystemExit(run_setting(SETTING))
