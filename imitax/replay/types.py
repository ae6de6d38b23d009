"""The records that go into the replay and the one transition structure that comes out of it."""

from __future__ import annotations

from typing import NamedTuple

import jax


class Step(NamedTuple):
    """What is stored for one time step of one stream (leading axes are batch axes).

    Step j holds observation o_j (as its newest frame only), the action taken at o_j, and how the
    environment arrived at o_j. Transitions are rebuilt from consecutive steps at sample time.
    """

    frame: jax.Array
    """The newest frame of o_j, e.g. (84, 84) uint8; the whole observation when it is not a stack."""
    action: jax.Array
    """Action executed at o_j (int32). Ignored at a last step, where the environment resets."""
    label: jax.Array
    """Action to imitate at o_j (int32): the executed one for agent data, the expert's for demos."""
    reward: jax.Array
    """Training reward received on arrival at o_j (float32); 0 at a first step."""
    terminal: jax.Array
    """o_j ends its episode with no value beyond it: bootstrapping stops here (bool)."""
    first: jax.Array
    """o_j starts a new game: its frame stack is its own frame repeated (bool)."""
    last: jax.Array
    """o_j ends its episode (terminal or truncated): no transition starts at o_j (bool)."""


class Transition(NamedTuple):
    """One transition, as every loss reads it: BC uses the first fields, TD losses the rest.

    Names follow rlax: `_tm1` is the time the action was taken, `_t` one step later, and the `nstep_`
    fields look n steps ahead (n is a replay setting; with n = 1 they are the one-step fields). Discounts
    already include gamma and are zero past a terminal observation.
    """

    obs_tm1: jax.Array
    """Observation the action was taken in, (*obs_shape)."""
    action_tm1: jax.Array
    """Action executed (int32)."""
    label_tm1: jax.Array
    """Action to imitate (int32): the executed one for agent data, the expert's for demonstrations."""
    reward_t: jax.Array
    """One-step reward (float32)."""
    discount_t: jax.Array
    """gamma, or 0 when obs_t is terminal (float32)."""
    obs_t: jax.Array
    """One-step next observation."""
    nstep_return_t: jax.Array
    """Discounted sum of the next m <= n rewards, stopping at the episode's end (float32)."""
    nstep_discount_t: jax.Array
    """gamma**m, or 0 when the episode terminated within those m steps (float32)."""
    nstep_obs_t: jax.Array
    """Observation m steps ahead, to bootstrap from."""
    is_demo: jax.Array
    """The transition comes from the demonstration partition (bool)."""
