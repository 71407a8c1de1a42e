"""Running the bot for real: backups, the doctor, content reloads, status. No Discord here."""
