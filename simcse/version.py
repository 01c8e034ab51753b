"""The package version (its own module, so that modules inside the package can read it while the package imports)."""
__version__ = "0.5.0"
