"""FaceSR Studio: face super-resolution for photos and surveillance video."""
__version__ = "0.1.0"
