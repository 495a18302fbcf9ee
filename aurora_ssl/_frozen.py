"""Immutable value classes without :mod:`dataclasses`, for the connect path.

Why not dataclasses: ``import dataclasses`` pulls in ``inspect`` (and with it ``ast``, ``dis``,
``tokenize``, ``linecache``), several milliseconds of a fresh process's start, while issue 12
allows the whole connect path 5 % over plain psycopg2. A subclass declares ``__slots__``,
names the fields that take part in equality, hashing and repr in ``_fields`` (in order), and
sets its attributes in ``__init__`` with :meth:`Frozen._set`. Instances then behave like those
of ``@dataclass(frozen=True)``: equal only to the same class with equal fields, hashable (so
usable as ``lru_cache`` keys), a dataclass-style repr, and no assignment after construction.
Copying and pickling keep every slot, including those left out of ``_fields``.
"""

from __future__ import annotations

__all__ = ["Frozen"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class Frozen:
    """Base of the package's frozen value classes (see the module docstring)."""

    __slots__ = ()
    #: The fields compared, hashed and shown by repr, in order.
    _fields: tuple[str, ...] = ()

    def _set(self, **values: Any) -> None:
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def _key(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Frozen)
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__qualname__}({shown})"

    def __getstate__(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._slot_names()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._set(**state)

    def _slot_names(self) -> list[str]:
        return [
            name
            for cls in type(self).__mro__
            for name in cls.__dict__.get("__slots__", ())
            if name != "__weakref__"
        ]
