//! `vigilo peer` and the node key as an operator uses them: the real binary on a temp folder.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn vigilo(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vigilo"))
        .args(args)
        .current_dir(dir)
        .env_remove("VIGILO_DATABASE_URL")
        .env_remove("VIGILO_NODE_KEY")
        .env_remove("VIGILO_BASE_URL")
        .env_remove("VIGILO_NODE_NAME")
        .env_remove("VIGILO_NODE_COUNTRY")
        .env("VIGILO_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn fail(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "expected failure: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const VN: &[&str] = &[
    "--node-name",
    "Cục Hạ tầng và Thiết bị y tế",
    "--node-country",
    "VN",
    "--base-url",
    "https://vigilo.example.gov.vn/",
];

#[test]
fn identity_creates_a_private_key_once_and_refuses_a_readable_one() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut args = vec!["peer", "identity"];
    args.extend_from_slice(VN);
    let line = ok(&vigilo(d, &args));
    assert!(
        line.starts_with("vigilo-peer/1 VN https://vigilo.example.gov.vn ed25519:"),
        "{line}"
    );
    assert!(line.trim_end().ends_with(" Cục Hạ tầng và Thiết bị y tế"));
    // The key is next to the default database, readable by its owner only.
    let key = d.join("vigilo-node.key");
    let text = std::fs::read_to_string(&key).unwrap();
    assert_eq!(text.trim().len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    // The same key the next time.
    assert_eq!(ok(&vigilo(d, &args)), line);
    // A key in another place, by flag.
    let mut other = args.clone();
    other.extend_from_slice(&["--node-key", "keys/node.key"]);
    let line2 = ok(&vigilo(d, &other));
    assert_ne!(line2, line);
    assert!(d.join("keys/node.key").exists());
    // Bad settings are named.
    let err = fail(&vigilo(
        d,
        &[
            "peer",
            "identity",
            "--node-country",
            "Vietnam",
            "--base-url",
            "https://x.example",
        ],
    ));
    assert!(err.contains("node country"), "{err}");
    let err = fail(&vigilo(
        d,
        &[
            "peer",
            "identity",
            "--base-url",
            "http://vigilo.example.gov.vn",
        ],
    ));
    assert!(err.contains("base URL"), "{err}");
    // A key others may read is refused, by the server too.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = fail(&vigilo(d, &args));
        assert!(err.contains("chmod 600"), "{err}");
        let err = fail(&vigilo(d, &["serve", "--bind", "127.0.0.1:0"]));
        assert!(err.contains("mode 644"), "{err}");
    }
}

#[test]
fn peers_are_added_listed_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Another node's line, made in its own folder.
    let other = tempfile::tempdir().unwrap();
    let sg_line = ok(&vigilo(
        other.path(),
        &[
            "peer",
            "identity",
            "--node-name",
            "Health Sciences Authority",
            "--node-country",
            "SG",
            "--base-url",
            "https://vigilo.example.gov.sg",
        ],
    ));
    let key_id = {
        let out = vigilo(
            other.path(),
            &[
                "peer",
                "identity",
                "--node-country",
                "SG",
                "--base-url",
                "https://vigilo.example.gov.sg",
            ],
        );
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        err.split("key id): ")
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(key_id.len(), 32);

    let out = ok(&vigilo(d, &["peer", "add", sg_line.trim()]));
    assert!(
        out.contains("pinned Health Sciences Authority (SG)"),
        "{out}"
    );
    assert!(out.contains(&key_id));
    let err = fail(&vigilo(d, &["peer", "add", sg_line.trim()]));
    assert!(err.contains("already exists"), "{err}");
    let err = fail(&vigilo(d, &["peer", "add", "vigilo-peer/1 SG nothing"]));
    assert!(err.contains("not a valid identity line"), "{err}");

    let list = ok(&vigilo(d, &["peer", "list"]));
    assert!(list.contains(&key_id) && list.contains("live"), "{list}");
    assert!(list.contains("https://vigilo.example.gov.sg"));

    let out = ok(&vigilo(d, &["peer", "remove", &key_id[..10]]));
    assert!(out.contains("removed Health Sciences Authority"), "{out}");
    let list = ok(&vigilo(d, &["peer", "list"]));
    assert!(!list.contains(&key_id), "{list}");
    let all = ok(&vigilo(d, &["peer", "list", "--all"]));
    assert!(all.contains(&key_id) && all.contains("removed"), "{all}");
    let err = fail(&vigilo(d, &["peer", "remove", &key_id]));
    assert!(err.contains("not found"), "{err}");
    let audit = ok(&vigilo(d, &["audit", "verify"]));
    assert!(audit.contains("intact"), "{audit}");
}
