"""Recording demonstrations from a built-in expert or a trained agent (`imitax record expert|agent`).

Both play whole games on the ale-py path (`AtariEnv`, training=False): `play` yields each game as an
`Episode` as it ends, `play_episodes` keeps them in memory (DAgger's way: no file), and `record` writes each
one at once. An agent, or any learner, plays through `policy_choose(policy)`. With noise (DART, Laskey et
al. 2017, "DART: Noise Injection for Robust Imitation Learning") the executed action is replaced with
probability p, while the label keeps the demonstrator's intended action, so a learner sees the states its
own mistakes lead to, labelled with what the expert would do there.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import ale_py
import numpy as np

from imitax.data.dataset import DatasetWriter, Episode, Source
from imitax.envs import AtariEnv, canonical_game, get_preset
from imitax.envs.noise import NoiseKind, noisy_action
from imitax.train.loading import load_agent
from imitax.train.teacher import AgentTeacher, make_teacher


@dataclass(frozen=True)
class RecordSettings:
    """What every recorder shares."""

    out: str | None = None
    """Dataset directory (default: demos/<source>-<game>-<preset>)."""
    episodes: int = 10
    """Whole games to record."""
    min_steps: int = 0
    """Keep recording whole games until at least this many steps are stored (0: just `episodes`)."""
    seed: int = 0
    """Game i is reset with seed + i (no-op starts, sticky actions), so every game can be replayed."""
    noise: float = 0.0
    """Probability that the executed action is replaced (DART); the label keeps the intended action."""
    noise_kind: NoiseKind = "uniform"
    """uniform: any action, the intended one included; other: any action but the intended one."""
    max_episode_steps: int = 27_000
    """Step budget per game: a game still running then is stored truncated."""
    keep_rgb: bool = False
    """Also store the raw 210x160 RGB screen of every observation."""
    keep_states: bool = False
    """Also store the emulator state of every observation, so an oracle can label it later (relabel)."""
    append: bool = False
    """Add to an existing dataset of the same game and preset."""
    quiet: bool = False
    """No progress lines."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.noise <= 1.0:
            raise ValueError(f"noise must be a probability in [0, 1], got {self.noise}")
        if self.episodes < 1 and self.min_steps < 1:
            raise ValueError("record at least one episode (--episodes) or some steps (--min-steps)")
        if self.max_episode_steps < 1:
            raise ValueError(f"max_episode_steps must be >= 1, got {self.max_episode_steps}")


@dataclass(frozen=True)
class RecordReport:
    path: str
    episodes: int
    steps: int
    scores: list[float]
    seconds: float
    interrupted: bool = False
    truncated_by_budget: int = 0

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        mean = f"{np.mean(self.scores):.2f}" if self.scores else "n/a"
        stop = " (interrupted: finished games kept)" if self.interrupted else ""
        return (
            f"Recorded {self.episodes} games, {self.steps:,} steps, mean score {mean}, "
            f"{self.steps_per_s:,.0f} steps/s, into {self.path}{stop}"
        )


Choose = Callable[[AtariEnv, np.ndarray], int]
"""A demonstrator: (env, observation) -> the action it intends, an index into the env's action set."""

Policy = Callable[[np.ndarray], np.ndarray]
"""A learner's batched greedy policy: observations (N, frame_stack, S, S) uint8 -> action indices (N,)."""


def policy_choose(policy: Policy) -> Choose:
    """A demonstrator that does what `policy` does on each observation alone (a batch of one)."""
    return lambda env, obs: int(policy(obs[None])[0])


@dataclass
class EpisodeBuffer:
    """One game's steps as they are played, until they make an `Episode`: `observe` each observation
    (the first after the reset, then one after each `add_step`)."""

    keep_rgb: bool = False
    """Also keep each observation's raw 210x160 RGB screen."""
    keep_states: bool = False
    """Also keep each observation's emulator state (`pack_states`)."""
    frames: list = field(default_factory=list)
    actions: list = field(default_factory=list)
    labels: list = field(default_factory=list)
    rewards: list = field(default_factory=list)
    terminations: list = field(default_factory=list)
    truncations: list = field(default_factory=list)
    numbers: list = field(default_factory=list)
    rgb: list = field(default_factory=list)
    states: list = field(default_factory=list)

    @property
    def num_steps(self) -> int:
        return len(self.actions)

    def observe(self, env: AtariEnv, obs: np.ndarray) -> None:
        self.frames.append(obs[-1].copy())  # a copy: the caller may reuse `obs`
        self.numbers.append(env.ale.getEpisodeFrameNumber())
        if self.keep_rgb:
            self.rgb.append(env.ale.getScreenRGB())
        if self.keep_states:
            self.states.append(np.frombuffer(env.clone_state().serialize(), np.uint8))

    def add_step(self, action: int, label: int, reward: float, terminated: bool, truncated: bool) -> None:
        """The action executed, the one to imitate, the unclipped reward and how the step ended."""
        self.actions.append(action)
        self.labels.append(label)
        self.rewards.append(reward)
        self.terminations.append(terminated)
        self.truncations.append(truncated)

    def episode(self, seed: int | None = None) -> Episode:
        extras = {"frame_number": np.array(self.numbers, np.int64)}
        if self.rgb:
            extras["rgb"] = np.array(self.rgb)
        if self.states:
            extras.update(pack_states(self.states))
        return Episode(
            frames=np.array(self.frames),
            actions=np.array(self.actions, np.int64),
            labels=np.array(self.labels, np.int64),
            rewards=np.array(self.rewards, np.float64),
            terminations=np.array(self.terminations, bool),
            truncations=np.array(self.truncations, bool),
            extras=extras,
            seed=seed,
        )


def pack_states(states: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Emulator states as one zero-padded (T+1, L) uint8 array and their lengths: fixed-width rows
    compress together (about 350 bytes a step for Pong, against 14 KB raw)."""
    lengths = np.array([len(s) for s in states], np.int32)
    packed = np.zeros((len(states), int(lengths.max())), np.uint8)
    for row, state in zip(packed, states, strict=True):
        row[: len(state)] = state
    return {"state": packed, "state_length": lengths}


def unpack_state(packed: np.ndarray, length: int) -> ale_py.ALEState:
    """The emulator state stored in one row of `pack_states`."""
    return ale_py.ALEState(packed[:length].tobytes())


def play(
    env: AtariEnv, choose: Choose, settings: RecordSettings, first_seed: int = 0
) -> Iterator[tuple[Episode, bool]]:
    """Plays whole games until `settings` are met, yielding each as it ends with whether the step budget
    (`max_episode_steps`) cut it. Game i is reset with seed `settings.seed + first_seed + i`."""
    steps = game = 0
    while game < settings.episodes or steps < settings.min_steps:
        episode, cut = _play(env, choose, settings, settings.seed + first_seed + game)
        yield episode, cut
        steps += episode.num_steps
        game += 1


def play_episodes(
    env: AtariEnv, choose: Choose, settings: RecordSettings, first_seed: int = 0
) -> list[Episode]:
    """`play`'s games, in memory (`settings.out`, `append` and `quiet` are not used)."""
    return [episode for episode, _ in play(env, choose, settings, first_seed)]


def record(
    env: AtariEnv, writer: DatasetWriter, choose: Choose, settings: RecordSettings, first_seed: int = 0
) -> RecordReport:
    """Plays and stores whole games until `settings` are met; each game is written as it ends.

    Ctrl-C stops between steps; every finished game is already on disk, the unfinished one is dropped.
    """
    scores: list[float] = []
    steps = budget_cut = 0
    start = time.perf_counter()
    interrupted = False
    try:
        for episode, cut in play(env, choose, settings, first_seed):
            writer.add(episode)
            scores.append(episode.score)
            steps += episode.num_steps
            budget_cut += cut
            if not settings.quiet:
                rate = steps / (time.perf_counter() - start)
                print(
                    f"game {len(scores)}: score {scores[-1]:g} in {episode.num_steps:,} steps"
                    f"{' (step budget reached)' if cut else ''} | {steps:,} steps, {rate:,.0f} steps/s",
                    flush=True,
                )
    except KeyboardInterrupt:
        interrupted = True
    return RecordReport(
        str(writer.path), len(scores), steps, scores, time.perf_counter() - start, interrupted, budget_cut
    )


def _play(env: AtariEnv, choose: Choose, settings: RecordSettings, seed: int) -> tuple[Episode, bool]:
    rng = np.random.default_rng([settings.seed, seed, 7])
    buffer = EpisodeBuffer(settings.keep_rgb, settings.keep_states)
    obs, _ = env.reset(seed=seed)
    buffer.observe(env, obs)
    for step in range(settings.max_episode_steps):
        intended = choose(env, obs)
        executed = noisy_action(intended, env.spec_.num_actions, settings.noise, settings.noise_kind, rng)
        obs, _, terminated, truncated, info = env.step(executed)
        out_of_budget = step + 1 == settings.max_episode_steps and not (terminated or truncated)
        buffer.add_step(executed, intended, info["score"], terminated, truncated or out_of_budget)
        buffer.observe(env, obs)
        if terminated or truncated:
            return buffer.episode(seed), False
    return buffer.episode(seed), True


def default_out(kind: str, game: str, preset: str) -> str:
    return str(Path("demos") / f"{kind}-{canonical_game(game).lower()}-{get_preset(preset).name}")


def source_details(settings: RecordSettings, **more) -> dict:
    return {
        "noise": settings.noise,
        "noise_kind": settings.noise_kind,
        "seed": settings.seed,
        "max_episode_steps": settings.max_episode_steps,
        **more,
    }


def dataset_extra_info(settings: RecordSettings, env: AtariEnv) -> dict:
    natural = 60.0 / env.preset.frame_skip
    return {
        "seed": settings.seed,
        "frame_rate": {"emulator_hz": 60, "agent_steps_per_s": natural},
        "noise": {"p": settings.noise, "kind": settings.noise_kind},
        "labels": "intended" if settings.noise else "executed",
        "restorable_states": settings.keep_states,
        "raw_screens": settings.keep_rgb,
    }


def make_writer(out: str, env: AtariEnv, source: Source, settings: RecordSettings) -> DatasetWriter:
    return DatasetWriter(out, env.spec_, source, dataset_extra_info(settings, env), append=settings.append)


@dataclass(frozen=True)
class ExpertRecordConfig(RecordSettings):
    """Recording demonstrations from a built-in expert (no neural network)."""

    env: str = "Pong"
    """Atari game, in any common spelling."""
    env_preset: str = "nature"
    """Preprocessing preset (nature, machado): agents trained on the dataset must use the same."""
    expert: str | None = None
    """Who plays: a built-in expert (default: the game's; `imitax experts` lists them), or the run
    directory of a trained imitax agent of this game (its newest checkpoint plays greedily)."""


def record_expert(config: ExpertRecordConfig) -> RecordReport:
    """Records `config.episodes` games of a built-in expert."""

    game = canonical_game(config.env)
    expert = make_teacher(config.expert, game, config.env_preset)
    env = AtariEnv(game, config.env_preset, training=False, seed=config.seed)
    out = config.out or default_out("expert", game, config.env_preset)
    kind = "agent" if isinstance(expert, AgentTeacher) else "expert"
    source = Source(kind, expert.name, source_details(config))
    writer = make_writer(out, env, source, config)
    return record(env, writer, lambda env, obs: expert.act(env), config, first_seed=writer.next_index)


@dataclass(frozen=True)
class AgentRecordConfig(RecordSettings):
    """Recording demonstrations from a trained imitax agent (a run directory's checkpoint)."""

    run_dir: str = ""
    """The run whose agent plays (its game and preset are used)."""
    step: int | None = None
    """Checkpoint step to load (default: the latest)."""
    epsilon: float = 0.0
    """With this probability the executed action is random; the label keeps the agent's greedy action."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.run_dir:
            raise ValueError("say which agent plays: --run-dir RUN_DIR")
        if not 0.0 <= self.epsilon <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {self.epsilon}")
        if self.epsilon and self.noise:
            raise ValueError("give --epsilon or --noise, not both: for an agent they are the same thing")


def record_agent(config: AgentRecordConfig) -> RecordReport:
    """Records games played by a trained agent, greedy labels and epsilon-noisy execution."""
    import dataclasses

    import jax

    loaded = load_agent(config.run_dir, config.step)
    if loaded.spec.preset is None:
        raise ValueError(f"{config.run_dir} trained on {loaded.spec.name}; demonstrations are Atari games.")
    settings = dataclasses.replace(config, noise=config.epsilon or config.noise, epsilon=0.0)
    env = AtariEnv(loaded.spec.name, loaded.spec.preset, training=False, seed=config.seed)
    act = jax.jit(loaded.agent.act)
    key = jax.random.key(0)  # unused at epsilon 0: the greedy action

    def greedy(obs: np.ndarray) -> np.ndarray:
        return np.asarray(act(loaded.state, obs, key, 0.0))

    out = config.out or default_out("agent", loaded.spec.name, loaded.spec.preset.name)
    source = Source(
        "agent",
        str(Path(config.run_dir).resolve()),
        source_details(
            settings, epsilon=settings.noise, algo=type(loaded.config).algo, checkpoint_step=loaded.step
        ),
    )
    writer = make_writer(out, env, source, settings)
    return record(env, writer, policy_choose(greedy), settings, first_seed=writer.next_index)
