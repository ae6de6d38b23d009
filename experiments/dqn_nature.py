"""DQN, Mnih et al. 2015 ("Human-level control through deep reinforcement learning"), over games and seeds.

full: the Nature setting (RMSProp, 1M replay, 50M steps a game); cpu: the fast preset (10-step double
DQN with random shifts, 1M steps); tiny: a smoke test. Flags after `--` go to `imitax train dqn`.

    python experiments/dqn_nature.py --games Pong Breakout --seeds 0 1 2 --budget full
    python experiments/dqn_nature.py --games Pong --budget cpu -- --total-steps 200000
"""

from imitax.experiments import Budget, Setting, run_setting

SETTING = Setting(
    name="dqn_nature",
    algo="dqn",
    budgets={
        "full": Budget("nature"),
        "cpu": Budget("fast"),
        "tiny": Budget("fast", {"total_steps": 256, "learning_starts": 64, "replay_capacity": 1000}),
    },
)

if __name__ == "__main__":
    raise SystemExit(run_setting(SETTING))
