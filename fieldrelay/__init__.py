"""fieldrelay: live field video for a command center, sealed as evidence."""

__version__ = "0.1.0"
