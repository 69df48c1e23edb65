use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::{invalid, FieldError, FormErrors, SuperAdminOnly};
use crate::server::import_people::ImportPeople;
use crate::server::preview_import::PreviewImport;
use crate::types::ImportPreview;

/// Directory › People › Import: paste a CSV, preview it, import all or nothing.
#[component]
pub fn ImportPeoplePage() -> impl IntoView {
    let preview = ServerAction::<PreviewImport>::new();
    let import = ServerAction::<ImportPeople>::new();
    let preview_error = Signal::derive(move || preview.value().get().and_then(|r| r.err()));
    let import_error = Signal::derive(move || import.value().get().and_then(|r| r.err()));
    view! {
        <Title text="Import people" />
        <header class="page-header">
            <h1>"Import people"</h1>
            <p class="hint">
                "Paste a CSV whose first line names the columns: " <code>"email"</code>
                " (required), " <code>"firstName"</code> ", " <code>"lastName"</code> ", "
                <code>"login"</code> ", " <code>"externalIss"</code> ", " <code>"externalSub"</code>
                ". Every row is checked first; the import adds all rows or none."
            </p>
        </header>
        <SuperAdminOnly
            notice="Read-only admins cannot import people: a super admin can."
            back_href="/admin/people"
            back_label="Back to People"
        >
        <ActionForm action=preview attr:class="form">
            <FormErrors error=preview_error shown_fields=&["csv"] />
            <div class="field">
                <label for="csv">"CSV"</label>
                <textarea
                    id="csv"
                    name="csv"
                    rows="10"
                    required
                    placeholder="email,firstName,lastName"
                    aria-invalid=invalid(preview_error, "csv")
                    aria-describedby="csv-error"
                ></textarea>
                <FieldError error=preview_error field="csv" id="csv-error" />
            </div>
            <div class="form-actions">
                <button type="submit" class="button">"Preview"</button>
                <a class="button" href="/admin/people">"Cancel"</a>
            </div>
        </ActionForm>
        {move || {
            import
                .value()
                .get()
                .and_then(|r| r.ok())
                .map(|n| view! { <div class="banner banner-success" role="status">{format!("Imported {n} people.")}</div> })
        }}
        <FormErrors error=import_error shown_fields=&[] />
        {move || preview.value().get().and_then(|r| r.ok()).map(|p| view! { <Preview p import /> })}
        </SuperAdminOnly>
    }
}

#[component]
fn Preview(p: ImportPreview, import: ServerAction<ImportPeople>) -> impl IntoView {
    let problems = p.rows.iter().filter(|r| r.error.is_some()).count();
    let total = p.rows.len();
    view! {
        <section class="card" aria-labelledby="preview-heading">
            <h2 id="preview-heading">"Preview"</h2>
            <p>{format!("{total} rows, {problems} with problems.")}</p>
            <table class="table">
                <thead>
                    <tr>
                        <th scope="col">"Line"</th>
                        <th scope="col">"Email"</th>
                        <th scope="col">"Name"</th>
                        <th scope="col">"Check"</th>
                    </tr>
                </thead>
                <tbody>
                    {p.rows
                        .iter()
                        .map(|r| {
                            view! {
                                <tr>
                                    <td>{r.line}</td>
                                    <td>{r.email.clone()}</td>
                                    <td>{r.name.clone()}</td>
                                    <td>
                                        {match r.error.clone() {
                                            Some(e) => view! { <span class="outcome-FAILURE">{e}</span> }.into_any(),
                                            None => view! { <span class="outcome-SUCCESS">"OK"</span> }.into_any(),
                                        }}
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
            {(problems == 0 && total > 0)
                .then(|| {
                    view! {
                        <ActionForm action=import>
                            <input type="hidden" name="csv" value=p.csv.clone() />
                            <button type="submit" class="button primary">{format!("Import {total} people")}</button>
                        </ActionForm>
                    }
                })}
        </section>
    }
}
