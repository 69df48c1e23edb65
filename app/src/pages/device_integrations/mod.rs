//! Security › Device Integrations: the "Receive shared signals" streams.

pub mod stream_detail;
pub mod stream_form;
pub mod stream_list;

use leptos::prelude::*;

/// The tab strip of the Device Integrations page.
#[component]
pub fn Tabs() -> impl IntoView {
    view! {
        <div class="tabs" role="tablist" aria-label="Device Integrations">
            <a
                role="tab"
                aria-selected="true"
                class="tab selected"
                href="/admin/security/device-integrations"
            >
                "Receive shared signals"
            </a>
        </div>
    }
}
