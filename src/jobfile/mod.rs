//! Job files: load (the only disk access), parse with spans, template and expand.
