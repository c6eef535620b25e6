//! The server event journal: append, replay, compact.
