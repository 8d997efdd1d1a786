//! Embeds every file under `assets/` in the binary: each with its content type, a strong ETag
//! (a hash of its bytes) and, where it saves bytes, a gzip copy made once here rather than on
//! every request. The service worker learns the list of files to precache and a version that
//! changes with any of them, so a new build replaces the offline copy.

use std::error::Error;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

const SERVICE_WORKER: &str = "/sw.js";
const PRECACHE_PLACEHOLDER: &str = r#"["__HALE_PRECACHE__"]"#;
const VERSION_PLACEHOLDER: &str = "__HALE_VERSION__";

struct File {
    /// The URL path, `/` then the path under `assets/`.
    path: String,
    bytes: Vec<u8>,
}

fn main() -> Result<(), Box<dyn Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("assets");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    collect(&root, &root, &mut files)?;
    files.sort_by(|a, b| a.path.cmp(&b.path));
    fill_in_service_worker(&mut files)?;

    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    let mut code = String::from("static ASSETS: &[Asset] = &[\n");
    for (index, file) in files.iter().enumerate() {
        let body_path = out.join(format!("asset-{index}"));
        std::fs::write(&body_path, &file.bytes)?;
        let gzip = gzip(&file.bytes)?;
        let gzip_code = if gzip.len() < file.bytes.len() {
            let gzip_path = out.join(format!("asset-{index}.gz"));
            std::fs::write(&gzip_path, &gzip)?;
            format!(
                "Some(include_bytes!({:?}))",
                gzip_path.display().to_string()
            )
        } else {
            String::from("None")
        };
        writeln!(
            code,
            "    Asset {{ path: {:?}, content_type: {:?}, hash: {:?}, body: include_bytes!({:?}), gzip: {gzip_code} }},",
            file.path,
            content_type(&file.path)?,
            hash(&file.bytes),
            body_path.display().to_string(),
        )?;
    }
    code.push_str("];\n");
    std::fs::write(out.join("assets.rs"), code)?;
    Ok(())
}

fn collect(root: &Path, directory: &Path, files: &mut Vec<File>) -> Result<(), Box<dyn Error>> {
    for entry in std::fs::read_dir(directory)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned());
        if name.is_none_or(|name| name.starts_with('.')) {
            continue;
        }
        if path.is_dir() {
            collect(root, &path, files)?;
        } else {
            let relative = path
                .strip_prefix(root)?
                .to_string_lossy()
                .replace('\\', "/");
            files.push(File {
                path: format!("/{relative}"),
                bytes: std::fs::read(&path)?,
            });
        }
    }
    Ok(())
}

/// Writes into the service worker the paths it precaches (every other file) and a version
/// that is the hash of all of them.
fn fill_in_service_worker(files: &mut [File]) -> Result<(), Box<dyn Error>> {
    let mut hasher = Sha256::new();
    let mut paths = Vec::new();
    for file in files.iter().filter(|file| file.path != SERVICE_WORKER) {
        hasher.update(file.path.as_bytes());
        hasher.update(&file.bytes);
        paths.push(format!("{:?}", file.path));
    }
    let version = hex(&hasher.finalize()[..8]);
    let Some(worker) = files.iter_mut().find(|file| file.path == SERVICE_WORKER) else {
        return Ok(());
    };
    let text = String::from_utf8(std::mem::take(&mut worker.bytes))?;
    if !text.contains(PRECACHE_PLACEHOLDER) || !text.contains(VERSION_PLACEHOLDER) {
        return Err(format!(
            "{SERVICE_WORKER} must contain {PRECACHE_PLACEHOLDER} and {VERSION_PLACEHOLDER}"
        )
        .into());
    }
    worker.bytes = text
        .replace(PRECACHE_PLACEHOLDER, &format!("[{}]", paths.join(", ")))
        .replace(VERSION_PLACEHOLDER, &version)
        .into_bytes();
    Ok(())
}

fn content_type(path: &str) -> Result<&'static str, Box<dyn Error>> {
    let extension = path.rsplit_once('.').map_or("", |(_, extension)| extension);
    Ok(match extension {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "txt" => "text/plain; charset=utf-8",
        _ => return Err(format!("{path}: no content type is known for this file").into()),
    })
}

fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes)?;
    encoder.finish()
}

/// A strong validator: 128 bits of the file's SHA-256.
fn hash(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes)[..16])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut text, byte| {
        let _ = write!(text, "{byte:02x}");
        text
    })
}
