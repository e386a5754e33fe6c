"""Shared fixtures live in tests/policy/fixtures.py (the jobs tests use them too)."""

from tests.policy.fixtures import *  # noqa: F403
