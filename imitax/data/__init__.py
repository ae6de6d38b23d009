"""Demonstrations: the dataset format, recorders, importers, and loading them into the replay."""
