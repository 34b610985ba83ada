"""Pure networks: no I/O, no device choices."""

from stylex.models.config import ArchConfig, check_resolution
from stylex.models.discriminator import Discriminator
from stylex.models.encoder import Encoder
from stylex.models.generator import Generator
from stylex.models.stylespace import StyleLayer, StyleLayout, Styles

__all__ = [
    "ArchConfig",
    "Discriminator",
    "Encoder",
    "Generator",
    "StyleLayer",
    "StyleLayout",
    "Styles",
    "check_resolution",
]
