"""capsule: turn a finished analysis into a research capsule that verifies bit-for-bit."""

__version__ = "0.1.0"
