"""A sum tree of float32 priorities: O(log n) writes and proportional draws, all jit-compatible.

Layout (Schaul et al. 2016, "Prioritized Experience Replay", appendix B.2.1): one flat array of 2 * size
nodes, size a power of two >= the number of leaves. Leaf i is node size + i, node k's children are 2k and
2k + 1, and node 1 (the root) holds the total. Node 0 stays 0: writes that are masked out go there, so
every index stays in bounds and the compiled gathers and scatters need no bounds checks. Leaves past the
last real one stay 0, so they are never drawn. A write recomputes each touched parent as the sum of its
two children (it does not add deltas), so sums never drift and duplicated indices in one write leave the
tree consistent.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def init(num_leaves: int) -> jax.Array:
    """A tree of zeros with room for `num_leaves` leaves, (2 * size,) float32."""
    size = 1 << max(num_leaves - 1, 0).bit_length()
    return jnp.zeros(2 * size, jnp.float32)


def _size_and_depth(tree: jax.Array) -> tuple[int, int]:
    size = tree.shape[0] // 2
    return size, size.bit_length() - 1


def _take(tree: jax.Array, nodes: jax.Array) -> jax.Array:
    return tree.at[nodes].get(mode="promise_in_bounds", wrap_negative_indices=False)


def _children(tree: jax.Array, nodes: jax.Array) -> jax.Array:
    """(left, right) children of `nodes`, (..., 2), in one gather: node k's are row k of the pairs."""
    return _take(tree.reshape(-1, 2), nodes)


def _put(tree: jax.Array, nodes: jax.Array, values: jax.Array) -> jax.Array:
    return tree.at[nodes].set(values, mode="promise_in_bounds", wrap_negative_indices=False)


def total(tree: jax.Array) -> jax.Array:
    """The sum of all leaves, () float32."""
    return tree[1]


def get(tree: jax.Array, indices: jax.Array) -> jax.Array:
    """Leaves at `indices` (an index outside [0, size) reads 0)."""
    size, _ = _size_and_depth(tree)
    return _take(tree, jnp.where((indices >= 0) & (indices < size), indices + size, 0))


def set_leaves(
    tree: jax.Array, indices: jax.Array, values: jax.Array, keep: jax.Array | bool = True
) -> jax.Array:
    """Writes `values` at the leaves `indices` where `keep` (and the index is in [0, size)), then
    recomputes their ancestors.

    Where an index repeats, which of its values lands is unspecified; the sums stay consistent either way.
    """
    size, depth = _size_and_depth(tree)
    keep = keep & (indices >= 0) & (indices < size)
    node = jnp.where(keep, indices + size, 0)
    tree = _put(tree, node, jnp.where(keep, values, 0.0).astype(tree.dtype))
    for _ in range(depth):
        node = node >> 1
        tree = _put(tree, node, jnp.where(node > 0, _children(tree, node).sum(axis=-1), 0.0))
    return tree


def find(tree: jax.Array, targets: jax.Array) -> jax.Array:
    """The leaf whose cumulative interval holds each target in [0, total): proportional draws, int32.

    Targets u * total(tree) with u ~ U[0, 1) draw leaf i with probability leaf_i / total. The descent
    never enters a subtree of zero mass while the tree's total is positive, so rounding cannot return a
    leaf of priority 0.
    """
    size, depth = _size_and_depth(tree)
    node = jnp.ones(targets.shape, jnp.int32)
    for _ in range(depth):
        children = _children(tree, node)
        left, right = children[..., 0], children[..., 1]
        go_right = ((targets >= left) & (right > 0)) | (left <= 0)
        targets = jnp.where(go_right, targets - left, targets)
        node = 2 * node + go_right.astype(jnp.int32)
    return node - size
