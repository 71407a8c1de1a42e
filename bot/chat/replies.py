"""Reply → discord.py objects, and the one way the bot answers an interaction."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

import discord

from bot.core.layout import buttons, embed_dict
from bot.core.models import Reply

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()
THINKING_IN_PUBLIC = "vgbot.thinking_in_public"  # interaction.extras: a public deferral shows


def to_embed(reply: Reply) -> discord.Embed:
    return discord.Embed.from_dict(embed_dict(reply))


def to_view(reply: Reply) -> discord.ui.View | None:
    links = buttons(reply)
    if not links:
        return None
    view = discord.ui.View(timeout=None)
    for b in links:
        view.add_item(discord.ui.Button(label=b.label, url=b.url))
    return view


async def send_reply(interaction: discord.Interaction, reply: Reply, *, ephemeral: bool) -> None:
    """Answer with an embed; works whether or not the response was deferred."""
    embed = to_embed(reply)
    view = to_view(reply) or discord.utils.MISSING
    if not interaction.response.is_done():
        await interaction.response.send_message(
            embed=embed, view=view, ephemeral=ephemeral, allowed_mentions=NO_MENTIONS
        )
    elif ephemeral:
        await _private_followup(interaction, embed=embed, view=view)
    else:
        interaction.extras.pop(THINKING_IN_PUBLIC, None)
        await interaction.edit_original_response(
            embed=embed, view=view, allowed_mentions=NO_MENTIONS
        )


async def _private_followup(interaction: discord.Interaction, **message: Any) -> None:
    """An ephemeral follow-up. After a public "thinking…", the first follow-up would take its
    place and be public too, so that message is deleted first."""
    if interaction.extras.pop(THINKING_IN_PUBLIC, False):
        await interaction.delete_original_response()
    await interaction.followup.send(ephemeral=True, allowed_mentions=NO_MENTIONS, **message)


async def answer(
    interaction: discord.Interaction, work: Awaitable[Reply], *, defer_after: float
) -> None:
    """Run `work`; if it is not done within `defer_after` seconds, defer so Discord's 3-second
    window is never missed, then deliver. Not-found answers are ephemeral."""
    deferring: asyncio.Task[Any] | None = None

    def defer() -> None:
        nonlocal deferring
        interaction.extras[THINKING_IN_PUBLIC] = True
        deferring = asyncio.create_task(interaction.response.defer(thinking=True))

    # A timer rather than a task around `work`: most answers take a millisecond, and a task
    # plus asyncio.wait cost more than the timer (~16 µs and two turns of the loop).
    timer = asyncio.get_running_loop().call_later(defer_after, defer)
    try:
        reply = await work
    finally:
        timer.cancel()
        if deferring is not None:
            await deferring  # the answer must follow the deferral
    await send_reply(interaction, reply, ephemeral=not reply.found)


async def tell(interaction: discord.Interaction, text: str) -> None:
    """A short private note to the person who invoked, whatever state the interaction is in."""
    if interaction.response.is_done():
        await _private_followup(interaction, content=text)
    else:
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)


async def tell_all(interaction: discord.Interaction, texts: list[str]) -> None:
    """`tell` each of `texts` in turn: a long answer split by bot.core.text.pages."""
    for text in texts:
        await tell(interaction, text)
