//! The engine is apart from the importers: what the server runs on every submission (and the
//! browser mirrors) depends on no reader of a spreadsheet, CSV, archive, XML or FHIR format.
//! Those live in `hale-forms-io`, which is only a dev-dependency here, for the sample apps.

#[test]
fn the_engine_depends_on_no_file_format_reader() {
    let manifest = include_str!("../Cargo.toml");
    let dependencies: Vec<&str> = manifest
        .split("\n[")
        .find(|section| section.starts_with("dependencies]"))
        .map(|section| {
            section
                .lines()
                .skip(1)
                .filter_map(|line| line.split(['.', ' ', '=']).next())
                .filter(|name| !name.is_empty() && !name.starts_with('#'))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        dependencies.contains(&"hale-expr"),
        "the [dependencies] section was read: {dependencies:?}"
    );
    for reader in ["calamine", "csv", "zip", "quick-xml", "hale-forms-io"] {
        assert!(
            !dependencies.contains(&reader),
            "hale-forms depends on {reader}: {dependencies:?}"
        );
    }
}
