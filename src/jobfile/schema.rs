//! The JSON Schema of the job file, generated from the raw types; `schemas/job.schema.json` is
//! this output, and a test fails when the committed file drifts from it.

use super::raw::RawJobFile;

/// The schema as pretty-printed JSON with a trailing newline.
pub fn job_schema_json() -> String {
    let schema = schemars::schema_for!(RawJobFile);
    let mut text =
        serde_json::to_string_pretty(&schema).expect("internal error: schema is not serialisable");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::job_schema_json;

    /// Regenerate with `HQ_UPDATE_SCHEMA=1 cargo test --lib schema`.
    #[test]
    fn committed_schema_matches_the_types() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/job.schema.json");
        let generated = job_schema_json();
        if std::env::var_os("HQ_UPDATE_SCHEMA").is_some() {
            std::fs::create_dir_all(concat!(env!("CARGO_MANIFEST_DIR"), "/schemas")).unwrap();
            std::fs::write(path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == generated,
            "schemas/job.schema.json is out of date; regenerate it with `HQ_UPDATE_SCHEMA=1 cargo test --lib schema`"
        );
    }
}
