"""``flyte.Image``: recorded, never built.

Replicas of the reference are local processes of the Python that runs the controller, so
there is no image to build. Every ``from_*`` constructor and ``with_*`` step of Flyte's
builder is accepted with the SDK's arguments (a wrong one is a ``TypeError``, as in the
SDK) and kept as a list of steps, so a program that builds its image fluently
(``Image.from_debian_base().with_pip_packages(...)``) runs unchanged and its environment
still says which image it asked for.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, Tuple

from ._unmodelled import record

__all__ = ["Image"]

_SIGNATURES = {
    "from_debian_base": "python_version=, flyte_version=, install_flyte=, registry=, registry_secret=, name=, platform=",
    "from_base": "image_uri",
    "from_ref_name": "name=",
    "from_dockerfile": "file, registry, name, platform=",
    "from_uv_script": "script, *, name, registry=, registry_secret=, python_version=, index_url=, extra_index_urls=, "
                      "pre=, extra_args=, platform=, secret_mounts=",
    "from_pixi_script": "script, *, name, registry=, registry_secret=, environment=, extra_args=, platform=, "
                        "secret_mounts=",
    "clone": "registry=, registry_secret=, name=, base_image=, python_version=, addl_layer=, extendable=, platform=",
    "with_pip_packages": "*packages, index_url=, extra_index_urls=, pre=, extra_args=, secret_mounts=",
    "with_apt_packages": "*packages, secret_mounts=",
    "with_commands": "commands, secret_mounts=",
    "with_env_vars": "env_vars",
    "with_requirements": "file, index_url=, extra_index_urls=, pre=, extra_args=, secret_mounts=",
    "with_source_file": "src, dst=",
    "with_source_folder": "src, dst=, copy_contents_only=",
    "with_workdir": "workdir",
    "with_dockerignore": "path",
    "with_code_bundle": "copy_style=, dst=",
    "with_uv_project": "pyproject_file, uvlock=, index_url=, extra_index_urls=, pre=, extra_args=, secret_mounts=, "
                       "project_install_mode=",
    "with_poetry_project": "pyproject_file, poetry_lock=, extra_args=, secret_mounts=, project_install_mode=",
    "with_pixi_project": "manifest_file, pixi_lock=, environment=, extra_args=, secret_mounts=, project_install_mode=",
    "with_local_v2": "", "with_local_v2_plugins": "plugins=", "with_local_rs_controller": "",
}
"""The arguments of each step, as the SDK names them (``name=``: optional; ``*``: keywords follow)."""


def _signature(spec: str) -> inspect.Signature:
    params, kind = [], inspect.Parameter.POSITIONAL_OR_KEYWORD
    for item in filter(None, (s.strip() for s in spec.split(","))):
        if item == "*":
            kind = inspect.Parameter.KEYWORD_ONLY
        elif item.startswith("*"):
            params.append(inspect.Parameter(item[1:], inspect.Parameter.VAR_POSITIONAL))
            kind = inspect.Parameter.KEYWORD_ONLY
        else:
            name, optional = item.rstrip("="), item.endswith("=")
            default = None if optional else inspect.Parameter.empty
            params.append(inspect.Parameter(name, kind, default=default))
    return inspect.Signature(params)


_BOUND: Dict[str, inspect.Signature] = {name: _signature(spec) for name, spec in _SIGNATURES.items()}


def _step(name: str, args: tuple, kwargs: dict) -> Tuple[str, tuple, tuple]:
    try:
        _BOUND[name].bind(*args, **kwargs)
    except TypeError as exc:
        raise TypeError(f"Image.{name}(): {exc} (its arguments are the SDK's: {_SIGNATURES[name] or 'none'})") from None
    return (name, args, tuple(sorted(kwargs.items(), key=lambda kv: kv[0])))


class Image:
    """An image described by the steps that would build it; equal when the steps are equal."""

    def __init__(self, steps: Tuple[Tuple[str, tuple, tuple], ...] = ()) -> None:
        self.steps = steps

    @classmethod
    def _start(cls, name: str) -> Callable[..., "Image"]:
        def build(*args: Any, **kwargs: Any) -> Image:
            step = _step(name, args, kwargs)
            record("flyte.Image (no image is built: replicas run in this Python)", name)
            return cls((step,))
        return build

    def __getattr__(self, name: str) -> Any:
        if name in _SIGNATURES and not name.startswith("from_"):
            def step(*args: Any, **kwargs: Any) -> Image:
                return Image(self.steps + (_step(name, args, kwargs),))
            return step
        raise AttributeError(name)

    @property
    def uri(self) -> str:
        """The reference given to ``from_base`` or ``from_ref_name``; otherwise a stand-in derived
        from the steps (nothing is pushed)."""
        if len(self.steps) == 1 and self.steps[0][0] in ("from_base", "from_ref_name") and self.steps[0][1]:
            return str(self.steps[0][1][0])
        return f"reuse-ref/local:{abs(hash(repr(self.steps))) % 10**12:012d}"

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Image) and repr(self.steps) == repr(other.steps)

    def __hash__(self) -> int:
        return hash(repr(self.steps))

    def __repr__(self) -> str:
        return "Image(" + ".".join(f"{n}(...)" for n, _, _ in self.steps) + ")"


for _name in _SIGNATURES:
    if _name.startswith("from_"):
        setattr(Image, _name, classmethod(lambda cls, *a, _n=_name, **k: Image._start(_n)(*a, **k)))
