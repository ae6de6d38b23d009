"""Hand-computed values for every loss, with and without jit, and batched through vmap."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
from absl.testing import parameterized

from imitax import losses
from imitax.agents import objective
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


class BehaviourCloningTest(parameterized.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_hand_computed(self):
        fn = self.variant(losses.behaviour_cloning)
        logits = jnp.log(jnp.array([0.5, 0.25, 0.25]))  # a softmax of exactly (1/2, 1/4, 1/4)
        np.testing.assert_allclose(fn(logits, 0), np.log(2), rtol=1e-6)
        np.testing.assert_allclose(fn(logits, 2), np.log(4), rtol=1e-6)
        # smoothing 0.3 over 3 actions: target (0.8, 0.1, 0.1) -> 0.8 ln 2 + 0.2 ln 4 = 1.2 ln 2
        np.testing.assert_allclose(fn(logits, 0, 0.3), 1.2 * np.log(2), rtol=1e-6)

    @chex.variants(with_jit=True, without_jit=True)
    def test_batched_by_vmap(self):
        fn = self.variant(jax.vmap(losses.behaviour_cloning, in_axes=(0, 0, None)))
        logits = jnp.log(jnp.array([[0.5, 0.25, 0.25], [0.25, 0.25, 0.5]]))
        np.testing.assert_allclose(fn(logits, jnp.array([0, 2]), 0.0), [np.log(2)] * 2, rtol=1e-6)

    def test_gradient_raises_the_label(self):
        grad = jax.grad(lambda z: losses.behaviour_cloning(z, 1))(jnp.zeros(3))
        np.testing.assert_allclose(grad, [1 / 3, -2 / 3, 1 / 3], rtol=1e-6)


class LargeMarginTest(parameterized.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_hand_computed(self):
        fn = self.variant(losses.large_margin)
        q = jnp.array([1.0, 2.0, 3.0])
        # a_E = 0: max(1, 2.8, 3.8) - 1 = 2.8; a_E = 2: max(1.8, 2.8, 3) - 3 = 0 (leads by more than 0.8)
        np.testing.assert_allclose(fn(q, 0, 0.8), 2.8, rtol=1e-6)
        np.testing.assert_allclose(fn(q, 2, 0.8), 0.0, atol=1e-6)
        # a_E = 1, margin 0.5: max(1.5, 2, 3.5) - 2 = 1.5
        np.testing.assert_allclose(fn(q, 1, 0.5), 1.5, rtol=1e-6)

    @chex.variants(with_jit=True, without_jit=True)
    def test_batched_by_vmap(self):
        fn = self.variant(jax.vmap(losses.large_margin, in_axes=(0, 0, None)))
        q = jnp.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
        np.testing.assert_allclose(fn(q, jnp.array([0, 1]), 0.8), [2.8, 0.8], rtol=1e-6)

    def test_gradient_pushes_the_expert_action_up_and_the_rival_down(self):
        grad = jax.grad(lambda q: losses.large_margin(q, 0, 0.8))(jnp.array([1.0, 2.0, 3.0]))
        np.testing.assert_allclose(grad, [-1.0, 0.0, 1.0])


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


def _outputs(**kw):
    return {k: jnp.asarray(v, jnp.float32) for k, v in kw.items()}


class TermTest(parameterized.TestCase):
    """Terms over outputs given by hand: every value is checkable on paper."""

    @chex.variants(with_jit=True, without_jit=True)
    def test_squared_td_by_hand(self):
        term = objective.td_term(objective.TermSettings(td_loss="squared"))
        out = _outputs(q_tm1=[[1.0, 0.0], [2.0, 5.0]], q_t_target=[[3.0, 1.0], [0.0, 0.0]])
        result = self.variant(term.fn)(out, _transition())
        # example 0: target 1 + 0.9 * max(3, 1) = 3.7, Q = 1 -> td 2.7; example 1: 0 - 5 = -5
        np.testing.assert_allclose(result.loss, [0.5 * 2.7**2, 12.5], rtol=1e-5)
        np.testing.assert_allclose(result.td_error, [2.7, -5.0], rtol=1e-5)
        assert term.needs == {objective.Q_TM1, objective.Q_T_TARGET}

    @chex.variants(with_jit=True, without_jit=True)
    def test_double_q_nstep_huber_by_hand(self):
        term = objective.nstep_term(objective.TermSettings(double_q=True, td_loss="huber"))
        out = _outputs(
            q_tm1=[[1.0, 0.0], [0.0, 5.0]],
            q_nstep_target=[[0.0, 3.0], [0.0, 0.0]],
            q_nstep_online=[[0.0, 9.0], [0.0, 0.0]],  # the online network picks action 1
        )
        batch = _transition(nstep_return_t=jnp.array([1.0, 0.0]), reward_t=jnp.array([50.0, 50.0]))
        result = self.variant(term.fn)(out, batch)
        # example 0: target 1 + 0.9 * 3 = 3.7, td 2.7 -> huber 2.2; example 1: td -5 -> 4.5
        np.testing.assert_allclose(result.loss, [2.2, 4.5], rtol=1e-5)

    @chex.variants(with_jit=True, without_jit=True)
    def test_margin_applies_to_demonstrations_only(self):
        term = objective.margin_term(objective.TermSettings(margin=0.8))
        out = _outputs(q_tm1=[[1.0, 2.0], [1.0, 2.0]])
        result = self.variant(term.fn)(out, _transition(is_demo=jnp.array([True, False])))
        np.testing.assert_allclose(result.loss, [1.8, 0.0], atol=1e-6)
        np.testing.assert_array_equal(result.applies, [True, False])

    @chex.variants(with_jit=True, without_jit=True)
    def test_bc_reads_logits_and_reports_accuracy(self):
        term = objective.bc_term(objective.TermSettings())
        logits = jnp.log(jnp.array([[0.5, 0.5], [0.2, 0.8]]))
        out = {objective.LOGITS_TM1: logits}
        result = self.variant(term.fn)(out, _transition(is_demo=jnp.array([True, True])))
        np.testing.assert_allclose(result.loss, [np.log(2), -np.log(0.8)], rtol=1e-6)
        np.testing.assert_allclose(result.extras["accuracy"], [1.0, 1.0])

    @chex.variants(with_jit=True, without_jit=True)
    def test_balanced_bc_gives_each_label_an_equal_share(self):
        term = objective.bc_term(objective.TermSettings(bc_balance=True))
        out = {objective.LOGITS_TM1: jnp.zeros((5, 2))}  # every example's cross-entropy is log 2
        labels, demo = jnp.array([0, 0, 0, 1, 1]), jnp.array([True, True, True, True, False])
        result = self.variant(term.fn)(out, _transition(label_tm1=labels, is_demo=demo))
        # 4 demonstrations, 2 labels: label 0 (3 of them) weighs 4 / (2 * 3), label 1 (1) weighs 4 / 2.
        expected = np.log(2) * np.array([2 / 3, 2 / 3, 2 / 3, 2.0, 0.0])
        np.testing.assert_allclose(result.loss, expected, rtol=1e-6)
        np.testing.assert_allclose(float((result.loss * demo).sum() / 4), np.log(2), rtol=1e-6)


def _constant(value: float, applies=(True, True)) -> objective.Term:
    def fn(out, batch):
        return objective.TermOutput(jnp.full((2,), value), jnp.array(applies), jnp.array([value, -value]))

    return objective.Term(fn, frozenset())


class ObjectiveTest(parameterized.TestCase):
    def test_weights_terms_and_examples(self):
        obj = objective.make_objective({"a": (2.0, _constant(1.0)), "b": (0.5, _constant(4.0))})
        loss, metrics = obj.fn({}, _transition(), jnp.zeros(()))
        np.testing.assert_allclose(loss, 4.0)
        np.testing.assert_allclose(metrics["a_loss"], 1.0)
        np.testing.assert_allclose(metrics[objective.PRIORITIES], [1.0, 1.0])  # the first TD-bearing term
        weighted, _ = obj.fn({}, _transition(weight=jnp.array([0.0, 1.0])), jnp.zeros(()))
        np.testing.assert_allclose(weighted, 2.0)

    def test_a_term_logs_its_mean_where_it_applies(self):
        obj = objective.make_objective({"m": (1.0, _constant(3.0, applies=(True, False)))})
        loss, metrics = obj.fn({}, _transition(), jnp.zeros(()))
        np.testing.assert_allclose(metrics["m_loss"], 3.0)  # not 1.5: one example of two applies
        np.testing.assert_allclose(loss, 1.5)  # the batch mean counts zero where it does not apply

    def test_decaying_weight(self):
        obj = objective.make_objective({"a": (objective.Weighted(2.0, 100), _constant(1.0))})
        for updates, expected in ((0, 2.0), (50, 1.0), (100, 0.0), (500, 0.0)):
            loss, _ = obj.fn({}, _transition(), jnp.asarray(updates))
            np.testing.assert_allclose(loss, expected, rtol=1e-6)

    def test_parse_loss(self):
        parsed = objective.parse_loss("td=1, nstep=0.5,margin=1,bc=0.25:200")
        assert parsed == {
            "td": objective.Weighted(1.0),
            "nstep": objective.Weighted(0.5),
            "margin": objective.Weighted(1.0),
            "bc": objective.Weighted(0.25, 200),
        }

    @parameterized.parameters(
        ("tdd=1", "unknown loss term 'tdd'"),
        ("td=x", "name=weight"),
        ("td=1,td=2", "twice"),
        ("td=0", "no term with a positive weight"),
        ("td=-1", ">= 0"),
    )
    def test_parse_loss_refuses(self, spec, message):
        with self.assertRaisesRegex(ValueError, message):
            objective.parse_loss(spec)
