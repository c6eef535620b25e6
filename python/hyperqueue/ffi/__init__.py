"""Types of the interface between Python and the native module."""

JobId = int
TaskId = int
