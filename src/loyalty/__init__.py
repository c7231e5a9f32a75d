"""loyalty: membership & loyalty platform for store chains."""

__version__ = "0.1.0"
