//! The two fields that choose a password, with the policy they must meet:
//! the invitation page and the change-password page ask them alike.
use leptos::prelude::*;

#[component]
pub fn NewPasswordFields() -> impl IntoView {
    view! {
        <label>
            "New password"
            <input type="password" name="password" autocomplete="new-password" minlength="10" required/>
            <small>"At least 10 characters, with a letter and a digit."</small>
        </label>
        <label>
            "New password again"
            <input type="password" name="repeat" autocomplete="new-password" required/>
        </label>
    }
}
