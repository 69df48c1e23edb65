use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::{LoadError, Loading};
use crate::server::list_streams::list_streams;

#[component]
pub fn DashboardPage() -> impl IntoView {
    let streams = Resource::new(|| (), |_| list_streams());
    view! {
        <Title text="Dashboard" />
        <header class="page-header">
            <h1>"Dashboard"</h1>
        </header>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match streams.await {
                    Err(e) => view! { <LoadError error=e /> }.into_any(),
                    Ok(streams) => {
                        let active = streams.iter().filter(|s| s.active).count();
                        let total = streams.len();
                        view! {
                            <section class="card">
                                <h2>"Streams"</h2>
                                <p class="figure">{active}<span>" active of "{total}</span></p>
                                <p>
                                    "Security tools send risk signals to Riskline over streams. "
                                    <a href="/admin/security/device-integrations">"Manage streams"</a>
                                </p>
                            </section>
                        }
                            .into_any()
                    }
                }
            })}
        </Suspense>
    }
}
