//! A form's fields: one labelled input each, with the hints a person reads before typing (the
//! password policy's rules in words).

use auth::PasswordPolicy;

/// bcrypt's 72 bytes, in the words a person uses: plain letters, digits and symbols take one
/// byte each in UTF-8.
pub(crate) const MOST_LETTERS: usize = auth::MAX_PASSWORD_BYTES;

/// One labelled input.
pub(crate) struct Field {
    pub(crate) id: &'static str,
    pub(crate) name: &'static str,
    pub(crate) label: &'static str,
    /// `email`, `password`…
    pub(crate) kind: &'static str,
    pub(crate) autocomplete: &'static str,
    /// The keyboard a phone shows (`numeric`…), if not the input kind's.
    pub(crate) inputmode: Option<&'static str>,
    /// What the visitor typed (never a password).
    pub(crate) value: String,
    pub(crate) hint: Option<String>,
    pub(crate) minlength: Option<usize>,
    pub(crate) error: Option<String>,
}

impl Field {
    /// The email input, filled with what was typed.
    pub(crate) fn email(id: &'static str, value: &str) -> Self {
        Field {
            id,
            name: "email",
            label: "Email",
            kind: "email",
            autocomplete: "username",
            inputmode: None,
            value: value.to_owned(),
            hint: None,
            minlength: None,
            error: None,
        }
    }

    /// A password input; it is never filled.
    pub(crate) fn password(
        id: &'static str,
        name: &'static str,
        label: &'static str,
        autocomplete: &'static str,
    ) -> Self {
        Field {
            id,
            name,
            label,
            kind: "password",
            autocomplete,
            inputmode: None,
            value: String::new(),
            hint: None,
            minlength: None,
            error: None,
        }
    }

    /// A code of two-factor sign-in (the app's 6 digits, or a recovery code); never filled.
    pub(crate) fn code(id: &'static str, label: &'static str, hint: &str) -> Self {
        Field {
            id,
            name: "code",
            label,
            kind: "text",
            autocomplete: "one-time-code",
            inputmode: None,
            value: String::new(),
            hint: Some(hint.to_owned()),
            minlength: None,
            error: None,
        }
    }

    /// The app's code: a phone shows its digit keyboard.
    pub(crate) fn app_code(id: &'static str) -> Self {
        let mut field = Field::code(id, "Code", "From your app, or a recovery code.");
        field.inputmode = Some("numeric");
        field
    }

    /// A new password: the policy's rules in words as a hint, shown before anything is typed,
    /// and its minimum as a `minlength` (the server checks them all again). `second_factor`:
    /// whether the account signs in with a second factor too (a shorter minimum may apply).
    pub(crate) fn new_password(
        id: &'static str,
        name: &'static str,
        policy: &PasswordPolicy,
        second_factor: bool,
    ) -> Self {
        let mut field = Field::password(id, name, "New password", "new-password");
        let min = policy.min_length(second_factor);
        let mut hint = if min > 1 {
            field.minlength = Some(min);
            format!("At least {min} characters; up to {MOST_LETTERS} letters, digits and symbols.")
        } else {
            format!("Up to {MOST_LETTERS} letters, digits and symbols.")
        };
        if let Some(refused) = refused_in_words(policy) {
            hint.push(' ');
            hint.push_str(&refused);
        }
        field.hint = Some(hint);
        field
    }

    /// The same new password again (`id` and `name` are the first one's with `-again` and
    /// `_again`), so a slip of the finger is caught before it becomes the password: the
    /// pages have no script to show what was typed.
    pub(crate) fn password_again(first: &Field, id: &'static str, name: &'static str) -> Self {
        let mut field = Field::password(id, name, "Repeat the new password", "new-password");
        field.minlength = first.minlength;
        field
    }

    /// The ids the input's `aria-describedby` names: its hint and its error.
    pub(crate) fn described_by(&self) -> String {
        let mut ids = Vec::new();
        if self.hint.is_some() {
            ids.push(format!("{}-hint", self.id));
        }
        if self.error.is_some() {
            ids.push(format!("{}-error", self.id));
        }
        ids.join(" ")
    }
}

/// What the policy refuses besides length, as a sentence (`None`: nothing).
fn refused_in_words(policy: &PasswordPolicy) -> Option<String> {
    let mut without = Vec::new();
    if policy.refuse_email {
        without.push("your email address");
    }
    if !policy.site_names.is_empty() {
        without.push("this site's name");
    }
    let without = (!without.is_empty()).then(|| without.join(" or "));
    match (policy.refuse_common, without) {
        (false, None) => None,
        (true, None) => Some("Not a common password.".to_owned()),
        (false, Some(without)) => Some(format!("Without {without} in it.")),
        (true, Some(without)) => Some(format!(
            "Not a common password, and without {without} in it."
        )),
    }
}
