"""Holds the ``flyte`` package that reuse-ref run puts first on sys.path (see ../_alias.py)."""
