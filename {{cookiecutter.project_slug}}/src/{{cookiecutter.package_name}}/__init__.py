"""Helper package of this CRISP-ML(Q) project: all logic the phase notebooks call."""

__version__ = "0.1.0"
