"""Permission checks run when a command is invoked (Discord's default member permissions only
hide commands; a server can change who sees them, so every run is checked again)."""

from __future__ import annotations

import logging

import discord
from discord import app_commands

log = logging.getLogger(__name__)

MODERATORS = discord.Permissions(manage_threads=True)


def require_moderator(interaction: discord.Interaction) -> bool:
    """True for autocomplete and for members with Manage Threads; otherwise a refusal the
    command tree's error handler shows privately."""
    if interaction.type is discord.InteractionType.autocomplete:
        return True
    if interaction.guild is None:
        raise app_commands.NoPrivateMessage("These commands work in a server only.")
    if not interaction.permissions.manage_threads:
        log.info(
            "refused /%s to user %s without Manage Threads",
            interaction.command.qualified_name if interaction.command else "?",
            interaction.user.id,
        )
        raise app_commands.CheckFailure(
            "Only moderators (Manage Threads permission) can use this command. Nothing was changed."
        )
    return True
