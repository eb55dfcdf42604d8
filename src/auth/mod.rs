//! Guarding routes with bearer tokens and scopes (RFC 6750): the check sibling services rely on,
//! applied by authd to its own API.

mod bearer;

pub use bearer::{Authorized, Caller, RequiredScope};

/// Declares a marker type for `Authorized<Marker>` that requires `$scope`.
#[macro_export]
macro_rules! required_scope {
    ($(#[$meta:meta])* $name:ident, $scope:literal) => {
        $(#[$meta])*
        #[derive(Debug)]
        pub struct $name;
        impl $crate::auth::RequiredScope for $name {
            const SCOPE: &'static str = $scope;
        }
    };
}
