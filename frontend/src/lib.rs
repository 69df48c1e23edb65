#![recursion_limit = "256"]
//! The browser entry point: hydrates the server-rendered console.

use wasm_bindgen::prelude::wasm_bindgen;

#[wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(riskline_app::App);
    // Tests (and curious admins) can tell when the page is interactive.
    if let Some(body) = leptos::prelude::document().body() {
        let _ = body.set_attribute("data-hydrated", "true");
    }
}
