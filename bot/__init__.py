"""vgbot: the Vanishing Gradients community bot."""

__version__ = "0.1.0"
