//! The pages between a first factor and a finished sign-in: the second factor
//! (`/login/second-factor`) and, for a person whose roles demand one they do not have yet,
//! enrolment (`/login/enrol`).

mod enrol;
mod one_time_code;

use utoipa_actix_web::service_config::ServiceConfig;

/// Mounts `/login/second-factor` and `/login/enrol`.
pub fn configure(cfg: &mut ServiceConfig) {
    one_time_code::configure(cfg);
    enrol::configure(cfg);
}
