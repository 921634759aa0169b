// Starts the Herald client without an inline script, so the page works under the server's
// Content-Security-Policy (`script-src 'self' 'wasm-unsafe-eval'`). Trunk writes the hashed file
// names into the attributes of the <script> tag that loads this file (Trunk.toml `pattern_script`).
const tag = document.querySelector("script[data-herald-js]");
const { default: init } = await import(tag.dataset.heraldJs);
await init({ module_or_path: tag.dataset.heraldWasm });
