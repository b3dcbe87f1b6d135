//! `spec_file` inlining: what `tollgate push` sends (a receiver has no
//! directory to resolve paths against), and therefore what the hash of a
//! snapshot with spec files is computed over, so that `validate`, a data
//! plane reading the file and a control plane it was pushed to agree.

use std::path::Path;

/// The document with every `apis[].spec_file` replaced by the file's text as
/// `spec`; `Ok(None)` when it names no spec file.
pub fn inline_spec_files(body: &[u8], base: &Path) -> Result<Option<Vec<u8>>, String> {
    if !body.windows(9).any(|w| w == b"spec_file") {
        return Ok(None);
    }
    let mut doc: serde_yaml::Value =
        serde_yaml::from_slice(body).map_err(|e| format!("not valid YAML or JSON: {e}"))?;
    let apis = doc.get_mut("apis").and_then(|a| a.as_sequence_mut());
    let mut any = false;
    for api in apis.into_iter().flatten() {
        let Some(map) = api.as_mapping_mut() else {
            continue;
        };
        let Some(rel) = map
            .get("spec_file")
            .and_then(|v| v.as_str())
            .map(str::to_string)
        else {
            continue;
        };
        let path = base.join(&rel);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("reading spec_file {}: {e}", path.display()))?;
        map.remove("spec_file");
        map.insert("spec".into(), text.into());
        any = true;
    }
    if !any {
        return Ok(None);
    }
    serde_yaml::to_string(&doc)
        .map(|s| Some(s.into_bytes()))
        .map_err(|e| e.to_string())
}
