"""``flyte.Image``: recorded, never built.

Replicas of the reference are local processes of the Python that runs the controller, so
there is no image to build. Every ``from_*`` constructor and ``with_*`` step of Flyte's
builder is accepted and kept as a list of steps, so a program that builds its image
fluently (``Image.from_debian_base().with_pip_packages(...)``) runs unchanged and its
environment still says which image it asked for.
"""
from __future__ import annotations

from typing import Any, Callable, Tuple

from ._unmodelled import record

__all__ = ["Image"]


class Image:
    """An image described by the steps that would build it; equal when the steps are equal."""

    def __init__(self, steps: Tuple[Tuple[str, tuple, tuple], ...] = ()) -> None:
        self.steps = steps

    @classmethod
    def _start(cls, name: str) -> Callable[..., "Image"]:
        def build(*args: Any, **kwargs: Any) -> Image:
            record("flyte.Image (no image is built: replicas run in this Python)", name)
            return cls(((name, args, tuple(sorted(kwargs.items(), key=lambda kv: kv[0]))),))
        return build

    def __getattr__(self, name: str) -> Any:
        if name.startswith("with_") or name == "clone":
            def step(*args: Any, **kwargs: Any) -> Image:
                return Image(self.steps + ((name, args, tuple(sorted(kwargs.items(), key=lambda kv: kv[0]))),))
            return step
        raise AttributeError(name)

    @property
    def uri(self) -> str:
        """A stand-in reference for the image, derived from its steps (nothing is pushed)."""
        return f"reuse-ref/local:{abs(hash(repr(self.steps))) % 10**12:012d}"

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Image) and repr(self.steps) == repr(other.steps)

    def __hash__(self) -> int:
        return hash(repr(self.steps))

    def __repr__(self) -> str:
        return "Image(" + ".".join(f"{n}(...)" for n, _, _ in self.steps) + ")"


for _name in ("from_debian_base", "from_base", "from_uv_script", "from_dockerfile", "from_ref_name",
              "from_python_base", "auto"):
    setattr(Image, _name, classmethod(lambda cls, *a, _n=_name, **k: Image._start(_n)(*a, **k)))
