//! What the risk reports share: the page's header, the filter form above
//! the report (kept, with the field errors, when the query is refused),
//! and the source picker of that form.

use leptos::prelude::*;
use leptos_meta::Title;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::components::{LoadError, Loading};
use crate::error::AppError;

/// A report page: `form` draws the filter form from the params, the
/// sources the report offers and the error of a refused query; `body`
/// draws the report. `sources` picks the offered sources out of a report.
#[component]
pub fn ReportFrame<P, T, Form, FormView, Body, BodyView>(
    title: &'static str,
    hint: &'static str,
    params: Memo<P>,
    report: Resource<Result<T, AppError>>,
    sources: fn(&T) -> Vec<(String, String)>,
    form: Form,
    body: Body,
) -> impl IntoView
where
    P: Clone + PartialEq + Send + Sync + 'static,
    T: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
    Form:
        Fn(P, Vec<(String, String)>, Option<AppError>) -> FormView + Clone + Send + Sync + 'static,
    FormView: IntoView + 'static,
    Body: Fn(T, P) -> BodyView + Clone + Send + Sync + 'static,
    BodyView: IntoView + 'static,
{
    view! {
        <Title text=title />
        <header class="page-header">
            <h1>{title}</h1>
            <p class="hint">{hint}</p>
        </header>
        <Suspense fallback=Loading>
            {move || {
                let (form, body) = (form.clone(), body.clone());
                Suspend::new(async move {
                    let params = params.get_untracked();
                    match report.await {
                        // The form stays, with each refused field's message under it.
                        Err(AppError::Invalid(errors)) => {
                            form(params, Vec::new(), Some(AppError::Invalid(errors))).into_any()
                        }
                        Err(e) => {
                            view! {
                                {form(params, Vec::new(), None)}
                                <LoadError error=e />
                            }
                                .into_any()
                        }
                        Ok(report) => {
                            let offered = sources(&report);
                            view! {
                                {form(params.clone(), offered, None)}
                                {body(report, params)}
                            }
                                .into_any()
                        }
                    }
                })
            }}
        </Suspense>
    }
}

/// The source `<select>` of a report's filter form: `any` first, then the
/// offered sources, plus the chosen one if the report no longer offers it
/// (so the form still shows what the URL asks for).
#[component]
pub fn SourceSelect(
    id: &'static str,
    any: &'static str,
    chosen: String,
    mut sources: Vec<(String, String)>,
) -> impl IntoView {
    if !chosen.is_empty() && !sources.iter().any(|(v, _)| *v == chosen) {
        sources.push((chosen.clone(), chosen.clone()));
    }
    view! {
        <select id=id name="source">
            <option value="" selected=chosen.is_empty()>
                {any}
            </option>
            {sources
                .into_iter()
                .map(|(value, name)| {
                    let selected = value == chosen;
                    view! {
                        <option value=value selected=selected>
                            {name}
                        </option>
                    }
                })
                .collect_view()}
        </select>
    }
}

/// The level `<select>` of a report's filter form, with the message of a
/// refused level under it.
#[component]
pub fn LevelSelect(
    id: &'static str,
    chosen: String,
    /// (value, label), the "any" choice first with an empty value.
    choices: &'static [(&'static str, &'static str)],
    error: Option<String>,
) -> impl IntoView {
    view! {
        <select
            id=id
            name="level"
            aria-invalid=error.is_some().then_some("true")
            aria-describedby=format!("{id}-error")
        >
            {choices
                .iter()
                .map(|(value, label)| {
                    view! {
                        <option value=*value selected=chosen == *value>
                            {*label}
                        </option>
                    }
                })
                .collect_view()}
        </select>
        {error.map(|m| view! { <p class="field-error" id=format!("{id}-error") role="alert">{m}</p> })}
    }
}
