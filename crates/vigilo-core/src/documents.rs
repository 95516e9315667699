//! Evidence documents: which files a dossier accepts, recognised by their bytes,
//! not by the name a browser sends. Files are stored and served back as
//! attachments; nothing here or elsewhere opens or runs them.

use serde::Serialize;

/// Largest evidence file accepted (bytes).
pub const MAX_DOCUMENT_BYTES: usize = 20 * 1024 * 1024;
/// Longest file name kept.
pub const MAX_FILENAME: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum DocumentKind {
    Pdf,
    /// Word, Excel or PowerPoint (Office Open XML).
    OfficeOpenXml,
    /// OpenDocument text, spreadsheet or presentation.
    OpenDocument,
    /// Legacy Office (Word 97-2003 and the like).
    LegacyOffice,
    Csv,
    PlainText,
    Png,
    Jpeg,
}

impl DocumentKind {
    /// The media type the file is served with (always as an attachment).
    pub fn media_type(self, extension: &str) -> &'static str {
        match (self, extension) {
            (DocumentKind::Pdf, _) => "application/pdf",
            (DocumentKind::OfficeOpenXml, "docx") => {
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            }
            (DocumentKind::OfficeOpenXml, "xlsx") => {
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            }
            (DocumentKind::OfficeOpenXml, _) => {
                "application/vnd.openxmlformats-officedocument.presentationml.presentation"
            }
            (DocumentKind::OpenDocument, "odt") => "application/vnd.oasis.opendocument.text",
            (DocumentKind::OpenDocument, "ods") => "application/vnd.oasis.opendocument.spreadsheet",
            (DocumentKind::OpenDocument, _) => "application/vnd.oasis.opendocument.presentation",
            (DocumentKind::LegacyOffice, "xls") => "application/vnd.ms-excel",
            (DocumentKind::LegacyOffice, "ppt") => "application/vnd.ms-powerpoint",
            (DocumentKind::LegacyOffice, _) => "application/msword",
            (DocumentKind::Csv, _) => "text/csv",
            (DocumentKind::PlainText, _) => "text/plain",
            (DocumentKind::Png, _) => "image/png",
            (DocumentKind::Jpeg, _) => "image/jpeg",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    #[error("the file is empty")]
    Empty,
    #[error("the file is {size} bytes; the limit is {MAX_DOCUMENT_BYTES} bytes (20 MB)")]
    TooLarge { size: usize },
    #[error("the file needs a name with an extension, e.g. report.pdf")]
    NoName,
    #[error("'.{0}' files are not accepted: send PDF, Word/Excel/PowerPoint (docx, xlsx, pptx, doc, xls, ppt), OpenDocument (odt, ods, odp), CSV, TXT, PNG or JPEG")]
    UnsupportedExtension(String),
    #[error("the file is named .{extension} but its content is not a {extension} file; export it again or rename it")]
    ContentMismatch { extension: String },
}

/// Checks a file's size, name and content, and says what it is.
pub fn check_document(filename: &str, bytes: &[u8]) -> Result<DocumentKind, DocumentError> {
    if bytes.is_empty() {
        return Err(DocumentError::Empty);
    }
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(DocumentError::TooLarge { size: bytes.len() });
    }
    let extension = extension_of(filename).ok_or(DocumentError::NoName)?;
    let zip = bytes.starts_with(b"PK\x03\x04");
    let ole = bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]);
    let text = std::str::from_utf8(bytes).is_ok() && !bytes.contains(&0);
    let (kind, matches) = match extension.as_str() {
        "pdf" => (DocumentKind::Pdf, bytes.starts_with(b"%PDF-")),
        "docx" | "xlsx" | "pptx" => (DocumentKind::OfficeOpenXml, zip),
        "odt" | "ods" | "odp" => (DocumentKind::OpenDocument, zip),
        "doc" | "xls" | "ppt" => (DocumentKind::LegacyOffice, ole),
        "csv" => (DocumentKind::Csv, text),
        "txt" => (DocumentKind::PlainText, text),
        "png" => (DocumentKind::Png, bytes.starts_with(b"\x89PNG\r\n\x1a\n")),
        "jpg" | "jpeg" => (DocumentKind::Jpeg, bytes.starts_with(&[0xFF, 0xD8, 0xFF])),
        other => return Err(DocumentError::UnsupportedExtension(other.to_string())),
    };
    if matches {
        Ok(kind)
    } else {
        Err(DocumentError::ContentMismatch { extension })
    }
}

/// The lower-case extension of a file name, if it has one.
pub fn extension_of(filename: &str) -> Option<String> {
    let (stem, ext) = filename.trim().rsplit_once('.')?;
    if stem.is_empty() || ext.is_empty() || ext.len() > 8 {
        return None;
    }
    Some(ext.to_ascii_lowercase())
}

/// A file name safe to keep and to send back in a header: path parts dropped,
/// control characters and quotes removed, length bounded.
pub fn clean_filename(filename: &str) -> String {
    let base = filename
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(filename)
        .trim();
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | ';'))
        .collect();
    let mut out: String = cleaned.chars().take(MAX_FILENAME).collect();
    if out.is_empty() {
        out = "document".into();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn recognises_each_accepted_kind_by_content() {
        let cases: &[(&str, &[u8], DocumentKind)] = &[
            ("a.pdf", b"%PDF-1.7\n...", DocumentKind::Pdf),
            ("a.DOCX", b"PK\x03\x04rest", DocumentKind::OfficeOpenXml),
            ("a.ods", b"PK\x03\x04rest", DocumentKind::OpenDocument),
            (
                "a.doc",
                &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0],
                DocumentKind::LegacyOffice,
            ),
            ("a.csv", "case_id,nhãn\n1,0\n".as_bytes(), DocumentKind::Csv),
            ("notes.txt", b"plain", DocumentKind::PlainText),
            ("x.png", b"\x89PNG\r\n\x1a\nIHDR", DocumentKind::Png),
            ("x.jpeg", &[0xFF, 0xD8, 0xFF, 0xE0], DocumentKind::Jpeg),
        ];
        for (name, bytes, kind) in cases {
            assert_eq!(check_document(name, bytes), Ok(*kind), "{name}");
        }
    }

    #[test]
    fn refuses_what_it_cannot_vouch_for() {
        assert_eq!(check_document("a.pdf", b""), Err(DocumentError::Empty));
        assert_eq!(
            check_document("a.exe", b"MZ\x90\x00"),
            Err(DocumentError::UnsupportedExtension("exe".into()))
        );
        assert_eq!(
            check_document("report.pdf", b"MZ\x90\x00"),
            Err(DocumentError::ContentMismatch {
                extension: "pdf".into()
            })
        );
        assert_eq!(
            check_document("a.txt", b"bin\x00ary"),
            Err(DocumentError::ContentMismatch {
                extension: "txt".into()
            })
        );
        assert_eq!(
            check_document("noext", b"%PDF-"),
            Err(DocumentError::NoName)
        );
        assert_eq!(check_document(".pdf", b"%PDF-"), Err(DocumentError::NoName));
        let big = vec![b'a'; MAX_DOCUMENT_BYTES + 1];
        assert_eq!(
            check_document("a.txt", &big),
            Err(DocumentError::TooLarge {
                size: MAX_DOCUMENT_BYTES + 1
            })
        );
    }

    #[test]
    fn file_names_lose_paths_quotes_and_control_characters() {
        assert_eq!(clean_filename("C:\\Users\\x\\hồ sơ.pdf"), "hồ sơ.pdf");
        assert_eq!(clean_filename("../../etc/passwd"), "passwd");
        assert_eq!(clean_filename("a\"b;\r\nc.pdf"), "abc.pdf");
        assert_eq!(clean_filename("  "), "document");
    }

    proptest! {
        #[test]
        fn cleaned_names_are_header_safe(name in ".{0,400}") {
            let c = clean_filename(&name);
            prop_assert!(!c.is_empty());
            prop_assert!(c.chars().count() <= MAX_FILENAME);
            prop_assert!(!c.chars().any(|ch| ch.is_control() || ch == '"' || ch == '/' || ch == '\\'));
        }
    }
}
