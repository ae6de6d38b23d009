"""DAgger, Ross et al. 2011 ("A Reduction of Imitation Learning and Structured Prediction to No-Regret
Online Learning"), with the game's built-in expert as the oracle, over games and seeds.

full: 20 rounds of 10,000 labelled steps and 5,000 updates; cpu: 8 rounds of 4,000 and 2,000; tiny: a
smoke test. beta halves every round, from 1 (the expert's own play) in round 0.

    python experiments/dagger.py --games Pong Breakout --seeds 0 1
"""

from imitax.experiments import Setting, run_setting

SETTING = Setting(
    name="dagger",
    algo="dagger",
    games=("Pong", "Breakout"),
    budgets={
        "full": "--preset default --rounds 20 --round-steps 10000 --round-updates 5000",
        "cpu": "--preset default",
        "tiny": "--preset default --rounds 2 --round-steps 64 --round-envs 2 --round-updates 10",
    },
)

if __name__ == "__main__":
    raise SystemExit(run_setting(SETTING))
