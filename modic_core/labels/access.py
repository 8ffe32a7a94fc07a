"""Who may write to the label store: identities, roles and the one check every write path calls.

Roles (:data:`ROLES`): ``viewer`` reads only; ``reviewer`` records reviews; ``admin`` also switches the
active model version and starts fine-tuning. Without an accounts file (``MODIC_AUTH_FILE`` unset) the app
asks for a reviewer name once per session and that person is a ``reviewer`` (a local, single-site
default); with one, sign-in is required (:mod:`modic_core.labels.auth`).
"""
from __future__ import annotations

from dataclasses import dataclass

from modic_core.errors import InputError

__all__ = ["ROLES", "Identity", "PermissionDenied", "require_admin", "require_writer"]

#: Roles, least to most rights.
ROLES = ("viewer", "reviewer", "admin")


class PermissionDenied(InputError):
    """A write was asked for by someone without the role for it (the message is one sentence for the user)."""


@dataclass(frozen=True)
class Identity:
    """A signed-in (or locally named) user: ``name`` as shown and stored as the reviewer/actor, ``role`` in :data:`ROLES`."""

    name: str
    role: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, not {self.role!r}")

    @property
    def can_write(self) -> bool:
        """Reviewers and admins may record reviews."""
        return self.role in ("reviewer", "admin")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def require_writer(identity: Identity | None) -> Identity:
    """``identity`` if it may record reviews; else :class:`PermissionDenied` saying why."""
    if identity is None:
        raise PermissionDenied("Sign in (or give your reviewer name) before saving a review.")
    if not identity.can_write:
        raise PermissionDenied(f"Your account ({identity.name}) is a viewer account: it can read reviews but not save "
                               "them; ask an admin for the reviewer role.")
    return identity


def require_admin(identity: Identity | None) -> Identity:
    """``identity`` if it is an admin; else :class:`PermissionDenied` saying why."""
    if identity is None or not identity.is_admin:
        raise PermissionDenied("Only an admin can do this (switch the active model or start fine-tuning); sign in "
                               "with an admin account.")
    return identity
