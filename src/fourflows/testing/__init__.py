"""Test helpers for fourflows and its users: hypothesis strategies and port contract suites.

Needs the ``testing`` extra (``pip install fourflows[testing]``): pytest and hypothesis.
"""
