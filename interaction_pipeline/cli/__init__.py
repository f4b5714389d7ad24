"""The `interactions` command line: one entry point for every part of the pipeline."""
