"""StylEx: explain an image classifier with a StyleGAN2 trained for it, in StyleSpace."""

__version__ = "0.1.0"
