//! The peers' packages: Debian's nginx-light and the Nchan module, installed with apt-get when
//! missing.

use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, bail};

use super::servers::{NCHAN_MODULE, NGINX};
use crate::process::{Ctx, is_root};
use crate::tools::apt_get;

/// Installs Debian's nginx-light and the Nchan module unless present (idempotent).
pub(super) fn install_nchan(ctx: &Ctx) -> anyhow::Result<()> {
    if Path::new(NCHAN_MODULE).is_file() && Path::new(NGINX).is_file() {
        println!("==> nginx + nchan: installed");
        return Ok(());
    }
    if !is_root() {
        bail!(
            "Nchan is missing and installing it needs root: sudo apt-get install \
             --no-install-recommends nginx-light libnginx-mod-nchan"
        );
    }
    ctx.run(apt_get(ctx).arg("update"))?;
    let policy = Command::new("apt-cache")
        .args(["policy", "nginx-light", "libnginx-mod-nchan"])
        .output()
        .context("cannot run apt-cache")?;
    let policy = String::from_utf8_lossy(&policy.stdout);
    if policy.contains("Candidate: (none)") || !policy.contains("libnginx-mod-nchan:") {
        bail!("apt has no candidate for nginx-light or libnginx-mod-nchan:\n{policy}");
    }
    ctx.run(apt_get(ctx).args([
        "install",
        "-y",
        "--no-install-recommends",
        "nginx-light",
        "libnginx-mod-nchan",
    ]))?;
    if !Path::new(NCHAN_MODULE).is_file() {
        bail!("libnginx-mod-nchan is installed but {NCHAN_MODULE} is missing");
    }
    Ok(())
}
