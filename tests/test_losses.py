"""Hand-computed values for every loss, with and without jit, and batched through vmap."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
from absl.testing import parameterized

from imitax import losses
from imitax.agents.objective import make_objective, td_term
from imitax.types import Transition

Q_TM1 = jnp.array([1.0, 2.0, 3.0])
Q_T = jnp.array([0.5, 4.0, -1.0])


class QLearningTest(parameterized.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_hand_computed(self):
        fn = self.variant(losses.q_learning)
        # target = 1 + 0.9 * max(0.5, 4, -1) = 4.6; td = 4.6 - q_tm1[0] = 3.6
        np.testing.assert_allclose(fn(Q_TM1, 0, 1.0, 0.9, Q_T), 3.6, rtol=1e-6)
        # terminal: target = r = 1; td = 1 - q_tm1[2] = -2
        np.testing.assert_allclose(fn(Q_TM1, 2, 1.0, 0.0, Q_T), -2.0, rtol=1e-6)

    @chex.variants(with_jit=True, without_jit=True)
    def test_batched_by_vmap(self):
        fn = self.variant(jax.vmap(losses.q_learning))
        q_tm1 = jnp.stack([Q_TM1, Q_TM1])
        q_t = jnp.stack([Q_T, Q_T])
        td = fn(q_tm1, jnp.array([0, 2]), jnp.array([1.0, 1.0]), jnp.array([0.9, 0.0]), q_t)
        np.testing.assert_allclose(td, [3.6, -2.0], rtol=1e-6)

    def test_no_gradient_through_target(self):
        grad = jax.grad(lambda q_t: losses.q_learning(Q_TM1, 0, 1.0, 0.9, q_t))(Q_T)
        np.testing.assert_array_equal(grad, 0.0)

    def test_rejects_batched_input(self):
        with self.assertRaises(AssertionError):
            losses.q_learning(jnp.stack([Q_TM1]), 0, 1.0, 0.9, Q_T)


class DoubleQLearningTest(parameterized.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_hand_computed(self):
        fn = self.variant(losses.double_q_learning)
        selector = jnp.array([9.0, 0.0, 0.0])  # the online network picks action 0
        # target = 1 + 0.5 * q_t_value[0] = 1.25; td = 1.25 - q_tm1[1] = -0.75
        np.testing.assert_allclose(fn(Q_TM1, 1, 1.0, 0.5, Q_T, selector), -0.75, rtol=1e-6)
        # plain Q-learning would have taken max(q_t) = 4: target 3, td 1
        np.testing.assert_allclose(losses.q_learning(Q_TM1, 1, 1.0, 0.5, Q_T), 1.0, rtol=1e-6)

    @chex.variants(with_jit=True, without_jit=True)
    def test_batched_by_vmap(self):
        fn = self.variant(jax.vmap(losses.double_q_learning))
        two = lambda x: jnp.stack([x, x])
        td = fn(
            two(Q_TM1),
            jnp.array([1, 1]),
            jnp.array([1.0, 2.0]),
            jnp.array([0.5, 0.0]),
            two(Q_T),
            jnp.stack([jnp.array([9.0, 0, 0]), jnp.array([0.0, 9, 0])]),
        )
        np.testing.assert_allclose(td, [-0.75, 0.0], rtol=1e-6)


class HuberTest(parameterized.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_hand_computed(self):
        fn = self.variant(losses.huber_loss)
        x = jnp.array([-3.0, -0.5, 0.0, 0.5, 3.0])
        # |x| <= 1: x^2 / 2; beyond: |x| - 1/2
        np.testing.assert_allclose(fn(x, 1.0), [2.5, 0.125, 0.0, 0.125, 2.5], rtol=1e-6)
        # delta 2: 3 -> 0.5 * 4 + 2 * (3 - 2) = 4
        np.testing.assert_allclose(fn(jnp.array([3.0]), 2.0), [4.0], rtol=1e-6)

    @chex.variants(with_jit=True, without_jit=True)
    def test_l2(self):
        np.testing.assert_allclose(self.variant(losses.l2_loss)(jnp.array([2.0, -1.0])), [2.0, 0.5])


def _transition(**kw) -> Transition:
    base = dict(
        obs_tm1=jnp.array([[0.0], [1.0]]),
        action_tm1=jnp.array([0, 1]),
        label_tm1=jnp.array([0, 1]),
        reward_t=jnp.array([1.0, 0.0]),
        discount_t=jnp.array([0.9, 0.0]),
        obs_t=jnp.array([[1.0], [0.0]]),
        nstep_return_t=jnp.array([1.0, 0.0]),
        nstep_discount_t=jnp.array([0.9, 0.0]),
        nstep_obs_t=jnp.array([[1.0], [0.0]]),
        is_demo=jnp.array([False, False]),
    )
    base.update(kw)
    return Transition(**base)


class TDTermTest(parameterized.TestCase):
    """The TD term on a two-state table: Q(s) = params[s], so every value is checkable by hand."""

    @staticmethod
    def apply(params, obs):
        return params[obs[:, 0].astype(jnp.int32)]  # (B, A)

    @chex.variants(with_jit=True, without_jit=True)
    def test_squared_td_by_hand(self):
        params = jnp.array([[1.0, 0.0], [2.0, 5.0]])
        target = jnp.array([[0.0, 0.0], [3.0, 1.0]])
        term = td_term(self.apply, double_q=False, loss="squared")
        per_example, _ = self.variant(term)(params, target, _transition(), jax.random.key(0))
        # example 0: target 1 + 0.9 * max(3, 1) = 3.7, Q = 1 -> td 2.7; example 1: 0 - 5 = -5
        np.testing.assert_allclose(per_example, [0.5 * 2.7**2, 12.5], rtol=1e-5)

    @chex.variants(with_jit=True, without_jit=True)
    def test_double_q_and_one_step_fields(self):
        params = jnp.array([[1.0, 0.0], [0.0, 5.0]])  # online picks action 1 in state 1
        target = jnp.array([[0.0, 0.0], [3.0, 1.0]])
        batch = _transition(nstep_return_t=jnp.array([10.0, 10.0]))  # ignored with n_step=False
        term = td_term(self.apply, double_q=True, loss="huber", n_step=False)
        per_example, _ = self.variant(term)(params, target, batch, jax.random.key(0))
        # example 0: target 1 + 0.9 * target[1, 1] = 1.9, td 0.9 -> 0.405; example 1: td -5 -> 4.5
        np.testing.assert_allclose(per_example, [0.405, 4.5], rtol=1e-5)

    def test_objective_weights_terms_and_examples(self):
        def constant(value):
            return lambda p, t, b, k: (jnp.full((2,), value), {})

        objective = make_objective({"a": (2.0, constant(1.0)), "b": (0.5, constant(4.0))})
        loss, metrics = objective(None, None, _transition(), jax.random.key(0))
        np.testing.assert_allclose(loss, 4.0)
        np.testing.assert_allclose(metrics["a_loss"], 1.0)
        weighted, _ = objective(None, None, _transition(), jax.random.key(0), jnp.array([0.0, 1.0]))
        np.testing.assert_allclose(weighted, 2.0)
