"""/episode and /topic: members ask about the show's back catalogue."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.chat.replies import answer

if TYPE_CHECKING:
    from bot.chat.client import VGBot

log = logging.getLogger(__name__)

MAX_QUERY = 200  # Discord enforces it in the client; we check again for other senders


class CatalogueCog(commands.Cog):
    def __init__(self, bot: VGBot) -> None:
        self.bot = bot

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        # Autocomplete is exempt: it must answer instantly and is cheap.
        if interaction.type is discord.InteractionType.autocomplete:
            return True
        return self.bot.cooldowns.hit(interaction)

    @app_commands.command(name="episode")
    @app_commands.describe(query="Episode number, words from the title, or a guest's name")
    async def episode(
        self, interaction: discord.Interaction, query: app_commands.Range[str, 1, MAX_QUERY]
    ) -> None:
        """Show an episode's notes: who, when, what was discussed."""
        service = self.bot.catalogue
        found = service.answer_episode(query[:MAX_QUERY], guild_id=interaction.guild_id)
        await answer(interaction, found, defer_after=self.bot.defer_after)

    @app_commands.command(name="topic")
    @app_commands.describe(query="A topic, e.g. 'defensible moats', or any words")
    async def topic(
        self, interaction: discord.Interaction, query: app_commands.Range[str, 1, MAX_QUERY]
    ) -> None:
        """What the show said about a topic, across episodes, with citations."""
        service = self.bot.catalogue
        await answer(
            interaction, service.answer_topic(query[:MAX_QUERY]), defer_after=self.bot.defer_after
        )

    @episode.autocomplete("query")
    async def _episode_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return _choices(await self.bot.catalogue.episode_choices(current[:MAX_QUERY]))

    @topic.autocomplete("query")
    async def _topic_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return _choices(await self.bot.catalogue.topic_choices(current[:MAX_QUERY]))


def _choices(pairs: list[tuple[str, str]]) -> list[app_commands.Choice[str]]:
    # Discord: at most 25 choices, name and value 1..100 characters.
    return [
        app_commands.Choice(name=name[:100], value=value[:100])
        for name, value in pairs[:25]
        if name and value
    ]
