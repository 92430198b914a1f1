"""duplexkit.datagen: dual-channel full-duplex dialogue corpora with exact events and 80 ms frame labels."""

__version__ = "0.1.0"
