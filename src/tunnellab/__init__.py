"""tunnellab: the tunnel effect, layer by layer."""

__version__ = "0.1.0"
