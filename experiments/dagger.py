"""DAgger, Ross et al. 2011 ("A Reduction of Imitation Learning and Structured Prediction to No-Regret
Online Learning"), with the game's built-in expert as the oracle, over games and seeds.

full: 20 rounds of 10,000 labelled steps and 5,000 updates; cpu: 8 rounds of 4,000 and 2,000; tiny: a
smoke test. beta halves every round, from 1 (the expert's own play) in round 0.

    python experiments/dagger.py --games Pong Breakout --seeds 0 1
"""

from imitax.experiments import Budget, Setting, run_setting

SETTING = Setting(
    name="dagger",
    algo="dagger",
    games=("Pong", "Breakout"),
    budgets={
        "full": Budget("default", {"rounds": 20, "round_steps": 10_000, "round_updates": 5_000}),
        "cpu": Budget("default"),
        "tiny": Budget("default", {"rounds": 2, "round_steps": 64, "round_envs": 2, "round_updates": 10}),
    },
)

if __name__ == "__main__":
    raise SystemExit(run_setting(SETTING))
