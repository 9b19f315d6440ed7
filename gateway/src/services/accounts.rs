//! The rules an account's credentials follow, wherever they are set.

use super::ServiceError;
use crate::auth::{MAX_PASSWORD_LEN, MIN_PASSWORD_LEN};

/// Checks an email and a password as registration does.
pub fn check_credentials(email: &str, password: &str) -> Result<(), ServiceError> {
    check_credentials_named(email, password, "password")
}

/// Whether `email` looks like an email address (at most 254 characters, `local@domain`).
pub fn valid_email(email: &str) -> bool {
    let email = email.trim();
    email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !email.contains(char::is_whitespace)
        })
}

/// Checks an email and a password; a bad password is reported under `password_field`.
pub fn check_credentials_named(email: &str, password: &str, password_field: &str) -> Result<(), ServiceError> {
    let mut problems = Vec::new();
    if !valid_email(email) {
        problems.push(("email".to_owned(), "must be an email address".to_owned()));
    }
    let length = password.chars().count();
    if !(MIN_PASSWORD_LEN..=MAX_PASSWORD_LEN).contains(&length) {
        problems
            .push((password_field.to_owned(), format!("must be {MIN_PASSWORD_LEN} to {MAX_PASSWORD_LEN} characters")));
    }
    if problems.is_empty() { Ok(()) } else { Err(ServiceError::InvalidFields(problems)) }
}
