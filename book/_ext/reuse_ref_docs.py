"""Small fixes to what Sphinx and the theme render: two for the API page's docstrings, two
for every page's header and footer.

1. **Prose before a colon is not a type.** napoleon reads the first line of an attribute or
   property docstring written as ``type: description`` as an inline type. reuse_ref writes
   plain reST, and some summaries open with a phrase and a colon ("Tasks the whole pool
   can run at once: ..."); napoleon would show that phrase as a type and nitpicky mode would
   report it as a missing class. When the part before the first colon contains a space
   (prose, not a type), the line is broken just after the colon: napoleon takes a first line
   that ends in a colon as text, and the paragraph renders exactly as before.

2. **Re-exported names resolve to their documentation.** Docstrings say
   ``reuse_ref.ReusePolicy`` (the name users import), while the API page documents it where
   it is defined, ``reuse_ref.config.policy.ReusePolicy``. A reference to ``reuse_ref.<name>`` that
   finds nothing is looked up on the package: if it is the same object as one documented
   under its defining module, the reference goes there. Nothing else is resolved this way,
   so a reference to something undocumented still fails the nitpicky build.

3. **Colab only where Colab can open the page.** The theme offers a Colab button on every
   page that runs code, MyST text notebooks (``book/*.md``) included, but Colab opens
   ``.ipynb`` files only: on a page built from anything else the button is dropped (Binder
   stays, since its Jupyter opens the page's source as it is).

4. **The version in the footer.** Every page's footer says which ``reuse_ref`` it
   documents (``reuse_ref.__version__``, the version the Changelog page lists first).
"""
from __future__ import annotations

import importlib
import re
from typing import Any

_PROSE_BEFORE_COLON = re.compile(r"^([^:`]*\s[^:`]*:)(?!:)\s+(\S.*)$")
_PACKAGE = "reuse_ref"


def _keep_prose(app, what, name, obj, options, lines):  # noqa: ARG001 (Sphinx's signature)
    if what in ("attribute", "data", "property") and lines:
        match = _PROSE_BEFORE_COLON.match(lines[0])
        if match:
            lines[0:1] = [match.group(1), match.group(2)]


def _canonical_name(target: str) -> str | None:
    """``reuse_ref.ReusePolicy`` -> ``reuse_ref.config.policy.ReusePolicy``, or None."""
    parts = target.split(".")
    if parts[0] != _PACKAGE or len(parts) < 2:
        return None
    try:
        obj: Any = importlib.import_module(_PACKAGE)
        for part in parts[1:]:
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        return None
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str):
        return None
    canonical = f"{module}.{qualname}"
    return canonical if canonical != target else None


def _resolve_reexport(app, env, node, contnode):
    if node.get("refdomain") != "py":
        return None
    canonical = _canonical_name(node.get("reftarget", ""))
    if canonical is None:
        return None
    domain = env.get_domain("py")
    return domain.resolve_xref(env, node.get("refdoc"), app.builder, node.get("reftype"),
                               canonical, node, contnode)


def _colab_only_for_notebooks(app, pagename, templatename, context, doctree):  # noqa: ARG001
    if context.get("page_source_suffix", "") == ".ipynb":
        return
    for group in context.get("header_buttons", []):
        if group.get("label") == "launch-buttons":
            group["buttons"] = [b for b in group.get("buttons", []) if b.get("text") != "Colab"]


def _footer_version(app, config):
    version = importlib.import_module(_PACKAGE).__version__
    options = dict(config.html_theme_options or {})
    options["extra_footer"] = (f'<p class="reuse-ref-version">reuse-ref {version}: '
                               "what changed in each version is on the Changelog page.</p>")
    config.html_theme_options = options


def setup(app):
    # napoleon connects at the default priority (500); this must run before it.
    app.connect("autodoc-process-docstring", _keep_prose, priority=400)
    app.connect("missing-reference", _resolve_reexport)
    # the theme adds its launch buttons at priority 501; this edits them afterwards
    app.connect("html-page-context", _colab_only_for_notebooks, priority=510)
    app.connect("config-inited", _footer_version)
    return {"version": "1.1", "parallel_read_safe": True, "parallel_write_safe": True}
