"""Synthesis: labelled posts → explanation-bearing instruction pairs (``imhi build``)."""
