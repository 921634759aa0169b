//! The peers' packages: Debian's nginx-light with the Nchan module, and Pushpin (with condure and
//! zurl, which it depends on), installed with apt-get when missing.

use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, bail};

use super::servers::{CONDURE, NCHAN_MODULE, NGINX, PUSHPIN, ZURL};
use crate::process::{Ctx, is_root};
use crate::tools::apt_get;

/// A Debian package and the files the bench runs from it.
#[derive(Debug)]
struct Package {
    name: &'static str,
    files: &'static [&'static str],
}

const PACKAGES: [Package; 3] = [
    Package {
        name: "nginx-light",
        files: &[NGINX],
    },
    Package {
        name: "libnginx-mod-nchan",
        files: &[NCHAN_MODULE],
    },
    // Its dependencies bring condure (the connection manager) and zurl (the origin client).
    Package {
        name: "pushpin",
        files: &[PUSHPIN, CONDURE, ZURL],
    },
];

/// Installs the packages whose files are missing (idempotent: one `stat` each when present).
pub(super) fn install_peers(ctx: &Ctx) -> anyhow::Result<()> {
    let present = |package: &Package| package.files.iter().all(|file| Path::new(file).is_file());
    let missing: Vec<&str> = PACKAGES
        .iter()
        .filter(|package| !present(package))
        .map(|package| package.name)
        .collect();
    if missing.is_empty() {
        println!("==> nginx + nchan, pushpin: installed");
        return Ok(());
    }
    if !is_root() {
        bail!(
            "{} missing and installing needs root: sudo apt-get install \
             --no-install-recommends {}",
            missing.join(", "),
            missing.join(" ")
        );
    }
    ctx.run(apt_get(ctx).arg("update"))?;
    let policy = Command::new("apt-cache")
        .arg("policy")
        .args(&missing)
        .output()
        .context("cannot run apt-cache")?;
    let policy = String::from_utf8_lossy(&policy.stdout);
    for name in &missing {
        // `apt-cache policy` prints `name:` and its candidate for each package it knows.
        let known = policy.lines().any(|line| line == format!("{name}:"));
        if !known || policy.contains("Candidate: (none)") {
            bail!("apt has no candidate for {name}:\n{policy}");
        }
    }
    ctx.run(
        apt_get(ctx)
            .args(["install", "-y", "--no-install-recommends"])
            .args(&missing),
    )?;
    if let Some(package) = PACKAGES.iter().find(|package| !present(package)) {
        bail!(
            "{} is installed but one of {} is missing",
            package.name,
            package.files.join(", ")
        );
    }
    Ok(())
}
