//! Passkeys in the browser: the JSON endpoints `static/passkey.js` calls (registration from
//! `/account`, sign-in from `/login`), the account page's rename and delete forms, and the
//! script itself. Every endpoint is a same-origin POST carrying the page's CSRF token; errors are
//! JSON `{"error", "error_description"}`.

mod manage;
mod registration;
mod reply;
mod script;
mod section;
mod sign_in;

use utoipa_actix_web::service_config::ServiceConfig;

pub use script::{PASSKEY_SCRIPT, passkey_script_path};
pub use section::{PasskeySection, passkey_section};

/// Mounts the passkey endpoints.
pub fn configure(cfg: &mut ServiceConfig) {
    registration::configure(cfg);
    sign_in::configure(cfg);
    manage::configure(cfg);
}
