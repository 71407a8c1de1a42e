"""A local Discord (REST API v10 + gateway v10) that the unmodified discord.py client talks to.

Used by the end-to-end tests and the terminal sandbox; knows nothing about podcasts.
"""

from .clock import ManualClock
from .errors import ApiError, EmulatorError
from .faults import Fault
from .perms import Perm
from .rest import Recorded
from .server import Emulator, EmulatorTimeout, InteractionHandle
from .state import Channel, Guild, Role, User

__all__ = [
    "ApiError",
    "Channel",
    "Emulator",
    "EmulatorError",
    "EmulatorTimeout",
    "Fault",
    "Guild",
    "InteractionHandle",
    "ManualClock",
    "Perm",
    "Recorded",
    "Role",
    "User",
]
