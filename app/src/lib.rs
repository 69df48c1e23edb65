#![recursion_limit = "256"]
//! The Riskline console: pages, components and server functions.
//!
//! Built twice: with `ssr` into the server (rendering, server functions) and
//! with `hydrate` into the browser's wasm. Everything here must work when the
//! wasm has not loaded: pages render fully on the server and every form posts.

pub mod components;
pub mod error;
pub mod pages;
pub mod server;
pub mod types;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Title};
use leptos_router::components::{ParentRoute, Route, Router, Routes};
use leptos_router::{path, SsrMode};

use crate::pages::admins::AdminsPage;
use crate::pages::api_tokens::ApiTokensPage;
use crate::pages::dashboard::DashboardPage;
use crate::pages::device_integrations::stream_detail::StreamDetailPage;
use crate::pages::device_integrations::stream_form::{AddStreamPage, EditStreamPage};
use crate::pages::device_integrations::stream_list::StreamListPage;
use crate::pages::directory::groups::GroupsPage;
use crate::pages::directory::import::ImportPeoplePage;
use crate::pages::directory::people::PeoplePage;
use crate::pages::directory::person::PersonPage;
use crate::pages::layout::ConsoleLayout;
use crate::pages::not_found::NotFoundPage;
use crate::pages::reports::at_risk_users::AtRiskUsersPage;
use crate::pages::reports::entity_risk::EntityRiskPage;
use crate::pages::reports::system_log::SystemLogPage;
use crate::pages::security::logout_apps::LogoutAppsPage;
use crate::pages::security::policy::PolicyPageView;
use crate::pages::security::workflows::WorkflowsPage;
use crate::pages::sign_in::SignInPage;

pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <link rel="stylesheet" href="/pkg/riskline.css" />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Pages are rendered whole before they are sent (no out-of-order
    // streaming), so they read and submit without the wasm.
    let ssr = SsrMode::Async;
    view! {
        <Title formatter=|page: String| format!("{page} · Riskline") />
        <Router>
            <Routes fallback=NotFoundPage>
                <Route path=path!("/login") view=SignInPage ssr=ssr.clone() />
                <ParentRoute path=path!("") view=ConsoleLayout ssr=ssr.clone()>
                    <Route path=path!("") view=DashboardPage ssr=ssr.clone() />
                    <Route
                        path=path!("admin/security/device-integrations")
                        view=StreamListPage
                        ssr=ssr.clone()
                    />
                    <Route
                        path=path!("admin/security/device-integrations/streams/new")
                        view=AddStreamPage
                        ssr=ssr.clone()
                    />
                    <Route
                        path=path!("admin/security/device-integrations/streams/:id")
                        view=StreamDetailPage
                        ssr=ssr.clone()
                    />
                    <Route path=path!("admin/people") view=PeoplePage ssr=ssr.clone() />
                    <Route path=path!("admin/people/import") view=ImportPeoplePage ssr=ssr.clone() />
                    <Route path=path!("admin/people/:id") view=PersonPage ssr=ssr.clone() />
                    <Route path=path!("admin/groups") view=GroupsPage ssr=ssr.clone() />
                    <Route
                        path=path!("admin/security/device-integrations/streams/:id/edit")
                        view=EditStreamPage
                        ssr=ssr.clone()
                    />
                    <Route
                        path=path!("admin/security/entity-risk-policy")
                        view=PolicyPageView
                        ssr=ssr.clone()
                    />
                    <Route
                        path=path!("admin/security/universal-logout")
                        view=LogoutAppsPage
                        ssr=ssr.clone()
                    />
                    <Route path=path!("admin/security/workflows") view=WorkflowsPage ssr=ssr.clone() />
                    <Route path=path!("admin/security/api/tokens") view=ApiTokensPage ssr=ssr.clone() />
                    <Route path=path!("admin/settings/admins") view=AdminsPage ssr=ssr.clone() />
                    <Route path=path!("admin/reports/entity-risk") view=EntityRiskPage ssr=ssr.clone() />
                    <Route
                        path=path!("admin/reports/at-risk-users")
                        view=AtRiskUsersPage
                        ssr=ssr.clone()
                    />
                    <Route path=path!("admin/reports/system-log") view=SystemLogPage ssr=ssr.clone() />
                </ParentRoute>
            </Routes>
        </Router>
    }
}
