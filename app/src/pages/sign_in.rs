use leptos::prelude::*;
use leptos_meta::Title;

use crate::server::sign_in::SignIn;

#[component]
pub fn SignInPage() -> impl IntoView {
    let action = ServerAction::<SignIn>::new();
    let error = move || action.value().get().and_then(|r| r.err());
    // Where to go once signed in: the page whose session ended, if it said.
    let query = leptos_router::hooks::use_query_map();
    let next = move || {
        query
            .read()
            .get("next")
            .filter(|n| crate::types::is_local_path(n))
            .unwrap_or_default()
    };
    view! {
        <Title text="Sign in" />
        <main class="sign-in">
            <div class="card sign-in-card">
                <p class="brand">"Riskline"</p>
                <h1>"Sign in to Riskline"</h1>
                <ActionForm action=action>
                    {move || {
                        error()
                            .map(|e| {
                                view! {
                                    <div class="banner banner-error" role="alert">
                                        {e.general(&[]).join(" ")}
                                    </div>
                                }
                            })
                    }}
                    <input type="hidden" name="next" value=next />
                    <label for="email">"Email"</label>
                    <input id="email" name="email" type="email" autocomplete="username" required />
                    <label for="password">"Password"</label>
                    <input
                        id="password"
                        name="password"
                        type="password"
                        autocomplete="current-password"
                        required
                    />
                    <button type="submit" class="button primary">
                        "Sign in"
                    </button>
                </ActionForm>
            </div>
        </main>
    }
}
