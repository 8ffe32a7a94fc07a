"""The one error a PACS problem ends in."""
from __future__ import annotations

from modic_core.errors import InputError

__all__ = ["PacsError"]


class PacsError(InputError):
    """The archive could not be searched, read or written.

    The message is one sentence a clinician understands (what went wrong, what to do); it never holds
    credentials, URLs with query strings or patient identifiers, and it is raised ``from None`` so no
    library traceback (whose text may hold them) is chained to it.
    """
