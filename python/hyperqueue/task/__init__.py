"""Tasks of a job: external programs and Python functions."""
