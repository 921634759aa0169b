//! The build step: the browser client, compiled by Trunk into `dist/`, which the server serves.

use anyhow::bail;

use crate::process::Ctx;

/// `cargo fetch --locked`, then `trunk build --release --offline`. Offline, Trunk cannot quietly
/// download a wasm-bindgen or wasm-opt other than the pinned ones the install step checked.
pub(crate) fn build(ctx: &Ctx) -> anyhow::Result<()> {
    ctx.run(ctx.cargo().args(["fetch", "--locked"]))?;
    ctx.run(
        ctx.trunk()
            .args(["build", "--release", "--offline"])
            .env("TRUNK_SKIP_VERSION_CHECK", "true"),
    )?;
    let index = ctx.root.join("dist").join("index.html");
    if !index.is_file() {
        bail!("trunk succeeded but {} is missing", index.display());
    }
    Ok(())
}
