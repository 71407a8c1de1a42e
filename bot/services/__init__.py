"""Use cases over the store and the pure core: what the chat layer and the CLI call."""
