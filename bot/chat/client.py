"""The Discord client: dependencies come in through the constructor, nothing global."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import time
from collections.abc import Callable
from typing import Any

import discord
import yarl
from discord import app_commands
from discord.ext import commands
from discord.gateway import DiscordWebSocket

from bot.chat.replies import NO_MENTIONS, tell
from bot.core.text import without_surrogates
from bot.settings import DISCORD_API_BASE

log = logging.getLogger(__name__)

COMMANDS_HASH_KEY = "commands_hash"
UNKNOWN_INTERACTION = 10062  # Discord's code for an interaction answered too late


class Cooldowns:
    """Per-user rate limit on public commands, on discord.py's own token bucket."""

    def __init__(self, rate: int, per: float, clock: Callable[[], float]) -> None:
        self.rate, self.per, self.clock = rate, per, clock
        self._buckets: dict[int, app_commands.Cooldown] = {}

    def hit(self, interaction: discord.Interaction) -> bool:
        now = self.clock()
        if len(self._buckets) > 10_000:  # forget idle users so memory stays flat
            self._buckets = {k: b for k, b in self._buckets.items() if now <= b._last + b.per}
        bucket = self._buckets.setdefault(
            interaction.user.id, app_commands.Cooldown(self.rate, self.per)
        )
        retry_after = bucket.update_rate_limit(now)
        if retry_after is not None:
            raise app_commands.CommandOnCooldown(bucket, retry_after)
        return True


RESTARTING = "The bot is restarting; ask again in a minute."
LOADING = "The bot is still loading this server; ask again in a few seconds. Nothing was changed."
# The permissions the README's invite link asks for: View Channels, Send Messages, Send Messages
# in Threads, Create Public Threads, Embed Links, Read Message History.
INVITE_PERMISSIONS = 309237730304


def invite_url(application_id: int | None) -> str:
    """The README's invite link: both scopes, the bot's permissions, this bot's id."""
    return (
        f"https://discord.com/oauth2/authorize?client_id={application_id or 'YOUR_APP_ID'}"
        f"&scope=bot%20applications.commands&permissions={INVITE_PERMISSIONS}"
    )


def not_in_server(application_id: int | None) -> str:
    return (
        "The bot is not in this server: only its commands were added (the "
        "`applications.commands` scope), so it cannot see the channels or post here. "
        f"A server admin can invite it with the `bot` scope: <{invite_url(application_id)}> "
        "Nothing was changed."
    )


# A shutdown waits this long for commands already at work (their answers need the connection
# that closing ends); within the runner's SHUTDOWN_TIMEOUT, which then stops at once.
ANSWERS_TIMEOUT = 10.0


class VGTree(app_commands.CommandTree["VGBot"]):
    """The command tree; once the bot is shutting down it takes no new work (see runner)."""

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        # Before discord.py reads the options: every command then gets text it can store.
        data: dict[str, Any] = dict(interaction.data or {})
        _clean_options(data.get("options") or [])
        guild = self.client.get_guild(interaction.guild_id or 0)
        needs_server = _needs_server(interaction)
        if not self.client.accepting:
            refusal = RESTARTING
        elif needs_server and guild is None:
            # READY lists every server the bot is in (unavailable ones too) and GUILD_DELETE
            # removes one it leaves: unknown here means the bot is not a member, and waiting
            # would not help (it is not "still loading").
            refusal = not_in_server(self.client.application_id)
        elif needs_server and guild is not None and guild.unavailable:
            # Its channels and roles have not come yet: channel options would not resolve
            # and permissions would read as none.
            refusal = LOADING
        else:
            # This runs in the task discord.py made for the interaction (error handler too).
            task = asyncio.current_task()
            if task is not None:
                self.client.at_work.add(task)
                task.add_done_callback(self.client.at_work.discard)
            return True
        if interaction.type is discord.InteractionType.autocomplete:
            await interaction.response.autocomplete([])
        elif not interaction.response.is_done():
            await interaction.response.send_message(
                refusal, ephemeral=True, allowed_mentions=NO_MENTIONS
            )
        return False


def _clean_options(options: Any) -> None:
    """String option values (also a subcommand's, and autocomplete's) without lone surrogates,
    in place (see bot.core.text.without_surrogates)."""
    for option in options:
        if isinstance(option.get("value"), str):
            option["value"] = without_surrogates(option["value"])
        _clean_options(option.get("options") or [])


def _needs_server(interaction: discord.Interaction) -> bool:
    """A server command (guild-only: it reads the server's channels and roles, or posts there)
    run in a server. Autocomplete and the catalogue's commands need none of it."""
    if (
        interaction.guild_id is None
        or interaction.type is not discord.InteractionType.application_command
    ):
        return False
    command = interaction.command
    root = getattr(command, "root_parent", None) or command
    return bool(getattr(root, "guild_only", False))


def _not_transformed(error: app_commands.TransformerError) -> str:
    """What to pick instead of an option value discord.py could not turn into its type. Not
    the value itself: for a channel or role that is a Python object."""
    kinds = {
        discord.AppCommandOptionType.channel: ("channel", "a text or forum channel"),
        discord.AppCommandOptionType.role: ("role", "a role"),
    }
    if error.type in kinds:
        what, kind = kinds[error.type]
        return (
            f"I can't use that {what} here: pick {kind} of this server from the list Discord "
            "offers. Nothing was changed."
        )
    return (
        "That value is not one of the choices: pick one from the list Discord offers. "
        "Nothing was changed."
    )


def commands_hash(tree: app_commands.CommandTree, guild: discord.abc.Snowflake | None) -> str:
    payload = [c.to_dict(tree) for c in tree.get_commands(guild=guild)]
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


class VGBot(commands.Bot):
    def __init__(
        self,
        *,
        catalogue: Any,
        meta: Any,
        dev_guild_id: int | None = None,
        cooldown_rate: int = 5,
        cooldown_per: float = 30.0,
        defer_after: float = 2.0,
        clock: Callable[[], float] = time.time,
        gateway_url: str = "",
        extra_cogs: tuple[Callable[[VGBot], commands.Cog], ...] = (),
        **client_options: Any,
    ) -> None:
        # The bot never joins voice: skip discord.py's start-up warnings about voice libraries.
        discord.VoiceClient.warn_nacl = False
        discord.VoiceClient.warn_dave = False
        # Only the guilds intent: no privileged intent, and no message content is needed.
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents(guilds=True),
            allowed_mentions=NO_MENTIONS,
            help_command=None,
            tree_cls=VGTree,
            **client_options,
        )
        self.accepting = True  # False once shutting down: interactions get RESTARTING
        self.at_work: set[asyncio.Task[Any]] = set()  # interactions being answered
        self.catalogue = catalogue
        self.meta = meta
        self.dev_guild = discord.Object(dev_guild_id) if dev_guild_id else None
        self.cooldowns = Cooldowns(cooldown_rate, cooldown_per, clock)
        self.defer_after = defer_after
        self.clock = clock
        self.extra_cogs = extra_cogs
        self.synced_commands = False
        self.gateway_url = gateway_url
        self.tree.error(self.on_app_command_error)

    async def setup_hook(self) -> None:
        from bot.chat.catalogue_cog import CatalogueCog

        await self._choose_gateway()
        await self.add_cog(CatalogueCog(self))
        for make in self.extra_cogs:
            await self.add_cog(make(self))
        await self.sync_commands()

    async def _choose_gateway(self) -> None:
        """discord.py connects to Discord's fixed gateway; behind another API base (the local
        emulator, a proxy) ask that API where its gateway is, unless a URL is configured."""
        url = self.gateway_url
        if not url and discord.http.Route.BASE.rstrip("/") != DISCORD_API_BASE:
            _, url, _ = await self.http.get_bot_gateway()
        if url:
            DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
            log.info("gateway: %s", url)

    async def sync_commands(self, *, force: bool = False) -> bool:
        """Sync only when the command tree changed (hash kept in the database)."""
        if self.dev_guild is not None:
            self.tree.copy_global_to(guild=self.dev_guild)
        digest = commands_hash(self.tree, self.dev_guild)
        scope = self.dev_guild.id if self.dev_guild else "global"
        key = f"{COMMANDS_HASH_KEY}:{self.application_id}:{scope}"
        if not force and await self.meta.get(key) == digest:
            log.info("application commands unchanged; not syncing")
            return False
        synced = await self.tree.sync(guild=self.dev_guild)
        await self.meta.set(key, digest)
        self.synced_commands = True
        log.info("synced %d application command(s)", len(synced))
        return True

    async def close(self) -> None:
        """Commands already at work are answered first: closing ends the HTTP session their
        answers go through (and the runner then closes the database they read)."""
        self.accepting = False
        working = {t for t in self.at_work if t is not asyncio.current_task()}
        if working:
            log.info(
                "shutting down: waiting for %d command(s) in flight (up to %g s)",
                len(working),
                ANSWERS_TIMEOUT,
            )
            _, late = await asyncio.wait(working, timeout=ANSWERS_TIMEOUT)
            if late:
                log.warning("%d command(s) still at work are cut short", len(late))
        await super().close()

    async def on_ready(self) -> None:
        log.info("connected as %s in %d guild(s)", self.user, len(self.guilds))

    async def on_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        if isinstance(error, app_commands.CommandOnCooldown):
            await tell(
                interaction,
                # Rounded up: "in 0 s" would be refused again if taken at its word.
                f"Easy there! You can ask again in {math.ceil(error.retry_after)} s.",
            )
            return
        if isinstance(error, app_commands.MissingPermissions | app_commands.CheckFailure):
            await tell(interaction, str(error) or "You can't use this command here.")
            return
        if isinstance(error, app_commands.TransformerError):
            await tell(interaction, _not_transformed(error))
            return
        command = interaction.command.qualified_name if interaction.command else "?"
        cause = getattr(error, "original", error)
        if isinstance(cause, discord.NotFound) and cause.code == UNKNOWN_INTERACTION:
            # Not our bug: it reached us after Discord's 3 s (a gateway outage replays events
            # late; a stalled host). Discord has told the member; a second answer would fail too.
            log.warning(
                "/%s came too late to answer (Discord: 10062 Unknown interaction; it allows "
                "3 s): after a gateway outage this is expected, else check the host's load "
                "and network (guild %s, user %s)",
                command,
                interaction.guild_id,
                interaction.user.id,
            )
            return
        log.error(
            "command /%s failed (guild %s, channel %s, user %s)",
            command,
            interaction.guild_id,
            interaction.channel_id,
            interaction.user.id,
            exc_info=error,
        )
        try:
            await tell(interaction, "Something went wrong on our side. It has been logged.")
        except discord.HTTPException:
            log.warning("could not tell the user about the failure of /%s", command)
