use leptos::prelude::*;
use leptos_router::components::{Outlet, A};

use crate::components::{sign_in_href, MeResource, SessionEnded};
use crate::server::sign_out::SignOut;

/// The frame of every signed-in page: navigation, who is signed in, sign-out.
#[component]
pub fn ConsoleLayout() -> impl IntoView {
    let me = MeResource::new();
    provide_context(me);
    let ended = RwSignal::new(false);
    provide_context(SessionEnded(ended));
    let location = leptos_router::hooks::use_location();
    let sign_in = move || {
        let path = location.pathname.get();
        let query = location.search.get();
        let here = if query.is_empty() || query == "?" {
            path
        } else if query.starts_with('?') {
            format!("{path}{query}")
        } else {
            format!("{path}?{query}")
        };
        sign_in_href(&here)
    };
    // Once the session has ended the page can no longer change anything:
    // reading the admin again hides the forms that only super admins see.
    #[cfg(all(feature = "hydrate", not(feature = "ssr")))]
    Effect::new(move |_| {
        if ended.get() {
            me.0.refetch();
        }
    });
    let sign_out = ServerAction::<SignOut>::new();
    // On a narrow screen the navigation folds behind a Menu toggle (a
    // checkbox, so that it works without the wasm too); following a link
    // folds it again.
    let toggle = NodeRef::<leptos::html::Input>::new();
    #[cfg(all(feature = "hydrate", not(feature = "ssr")))]
    {
        let location = leptos_router::hooks::use_location();
        Effect::new(move |_| {
            // Runs again on each navigation.
            let _path = location.pathname.get();
            if let Some(el) = toggle.get_untracked() {
                el.set_checked(false);
            }
        });
    }
    // A row's Actions menu closes when the admin clicks anywhere outside it
    // or presses Escape, as menus do (without the wasm it stays open until
    // its summary is clicked again). Focus inside a menu that closes goes
    // back to its summary rather than to the top of the page.
    #[cfg(all(feature = "hydrate", not(feature = "ssr")))]
    {
        use leptos::wasm_bindgen::JsCast;
        let close_menus = |keep: Option<web_sys::Node>| {
            let Ok(open) = document().query_selector_all("details.menu[open]") else {
                return;
            };
            let focused = document().active_element();
            for i in 0..open.length() {
                let Some(menu) = open.item(i) else { continue };
                if keep.as_ref().is_some_and(|k| menu.contains(Some(k))) {
                    continue;
                }
                let had_focus = focused.as_ref().is_some_and(|f| menu.contains(Some(&**f)));
                if let Ok(menu) = menu.dyn_into::<web_sys::Element>() {
                    let _ = menu.remove_attribute("open");
                    if had_focus {
                        if let Ok(Some(summary)) = menu.query_selector(":scope > summary") {
                            if let Ok(summary) = summary.dyn_into::<web_sys::HtmlElement>() {
                                let _ = summary.focus();
                            }
                        }
                    }
                }
            }
        };
        // Listeners for the page's lifetime: the layout is mounted once.
        let _ = window_event_listener(leptos::ev::click, move |e| {
            close_menus(e.target().and_then(|t| t.dyn_into::<web_sys::Node>().ok()))
        });
        let _ = window_event_listener(leptos::ev::keydown, move |e| {
            if e.key() == "Escape" {
                close_menus(None)
            }
        });
    }
    view! {
        <div class="console">
            <aside class="sidebar">
                <div class="sidebar-top">
                    <p class="brand">"Riskline"</p>
                    <input
                        type="checkbox"
                        id="nav-toggle"
                        class="nav-toggle visually-hidden"
                        aria-controls="sidebar-menu"
                        node_ref=toggle
                    />
                    <label for="nav-toggle" class="nav-toggle-label button small">
                        "Menu"
                    </label>
                </div>
                <div class="sidebar-menu" id="sidebar-menu">
                <nav aria-label="Main">
                    <ul>
                        <li>
                            <A href="/" exact=true>
                                "Dashboard"
                            </A>
                        </li>
                    </ul>
                    <p class="nav-group">"Directory"</p>
                    <ul>
                        <li>
                            <A href="/admin/people">"People"</A>
                        </li>
                        <li>
                            <A href="/admin/groups">"Groups"</A>
                        </li>
                    </ul>
                    <p class="nav-group">"Security"</p>
                    <ul>
                        <li>
                            <A href="/admin/security/device-integrations">"Device Integrations"</A>
                        </li>
                        <li>
                            <A href="/admin/security/entity-risk-policy">"Entity Risk Policy"</A>
                        </li>
                        <li>
                            <A href="/admin/security/universal-logout">"Universal Logout"</A>
                        </li>
                        <li>
                            <A href="/admin/security/workflows">"Workflows"</A>
                        </li>
                        <li>
                            <A href="/admin/security/api/tokens">"API"</A>
                        </li>
                    </ul>
                    <p class="nav-group">"Reports"</p>
                    <ul>
                        <li>
                            <A href="/admin/reports/system-log">"System Log"</A>
                        </li>
                        <li>
                            <A href="/admin/reports/entity-risk">"Entity risk"</A>
                        </li>
                        <li>
                            <A href="/admin/reports/at-risk-users">"At-risk users"</A>
                        </li>
                    </ul>
                    <p class="nav-group">"Settings"</p>
                    <ul>
                        <li>
                            <A href="/admin/settings/admins">"Administrators"</A>
                        </li>
                    </ul>
                </nav>
                <div class="whoami">
                    <Suspense fallback=|| ()>
                        {move || Suspend::new(async move {
                            me.0
                                .await
                                .ok()
                                .flatten()
                                .map(|me| {
                                    view! {
                                        <p class="whoami-name">{me.display_name.clone()}</p>
                                        <p class="whoami-role">{me.role.label()}</p>
                                    }
                                        .into_any()
                                })
                                .unwrap_or_else(|| {
                                    view! {
                                        <p class="whoami-role">"Signed out"</p>
                                    }
                                        .into_any()
                                })
                        })}
                    </Suspense>
                    <ActionForm action=sign_out>
                        <button type="submit" class="button link">
                            "Sign out"
                        </button>
                    </ActionForm>
                </div>
                </div>
            </aside>
            <main class="content">
                <Outlet />
            </main>
            // After the page, so that the pages' errors have reported an
            // ended session before it renders; shown fixed at the top.
            {move || {
                ended
                    .get()
                    .then(|| {
                        view! {
                            <div class="banner banner-error session-ended" role="alert">
                                <p>
                                    "Your session has ended. "
                                    <a href=sign_in rel="external">"Sign in again"</a>
                                    " to continue."
                                </p>
                            </div>
                        }
                    })
            }}
        </div>
    }
}
