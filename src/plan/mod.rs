//! The planner: turns job-file definitions into a validated submission (petgraph DAG).
