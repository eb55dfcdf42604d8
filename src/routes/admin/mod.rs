//! The admin API under `/admin`: users, roles and clients, each route guarded by one scope.

mod clients;
mod roles;
mod users;
pub mod wire;

use utoipa_actix_web::service_config::ServiceConfig;

use crate::required_scope;

required_scope!(
    /// Reading users.
    UsersRead, "users:read"
);
required_scope!(
    /// Creating, changing and deleting users.
    UsersWrite, "users:write"
);
required_scope!(
    /// Reading roles.
    RolesRead, "roles:read"
);
required_scope!(
    /// Changing roles.
    RolesWrite, "roles:write"
);
required_scope!(
    /// Reading clients.
    ClientsRead, "clients:read"
);
required_scope!(
    /// Registering, rotating and deleting clients.
    ClientsWrite, "clients:write"
);

/// Mounts the admin routes (the caller wraps them in the `/admin` scope).
pub fn configure(cfg: &mut ServiceConfig) {
    users::configure(cfg);
    roles::configure(cfg);
    clients::configure(cfg);
}
