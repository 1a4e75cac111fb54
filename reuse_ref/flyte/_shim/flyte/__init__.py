"""``import flyte`` under ``reuse-ref run``: this resolves to ``reuse_ref.flyte`` (see reuse_ref/flyte/_alias.py)."""
from reuse_ref.flyte import _alias

_alias.install()  # replaces this module in sys.modules: the importer gets reuse_ref.flyte
