"""Agents: pure `init`, `act` and `update` functions over pytree states."""
