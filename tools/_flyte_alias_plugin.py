"""A pytest plugin for tools/sdk_reuse_tests.py: ``import flyte`` means ``reuse_ref.flyte`` from the start."""
from reuse_ref.flyte import _alias

_alias.install()
