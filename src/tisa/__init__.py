"""tisa: scoped, classified intelligence sharing among allied nations through a relay hub."""

__version__ = "0.1.0"
