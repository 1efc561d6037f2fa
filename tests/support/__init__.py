"""Helpers the tests share (plain functions and classes; the fixtures stay in conftest files).

Test modules import from here, never from a conftest module: a conftest is pytest's, loaded
once per directory, and importing it by name loads a second copy of it.
"""
