//! The extractors: [`Caller`] for any valid token, [`Require`] for scopes, roles and the
//! strength or age of the user's sign-in (RFC 9470 step-up).

use std::future::Future;
use std::marker::PhantomData;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};

use crate::caller::Caller;
use crate::client::AuthdClient;
use crate::error::{AuthError, Rejection, Scheme, StepUp};
use crate::introspect::unix_now_ms;

/// What a route needs beyond a valid token; declare one with [`scope!`](crate::scope),
/// [`role!`](crate::role) or [`step_up!`](crate::step_up), or implement it to combine them.
pub trait Requirement {
    /// Scopes the token must all grant.
    const SCOPES: &'static [&'static str] = &[];
    /// Roles the token's user must all hold.
    const ROLES: &'static [&'static str] = &[];
    /// `acr` values the user's sign-in may have, in order of preference (RFC 9470); empty for
    /// any. authd's are [`ACR_PWD`](crate::ACR_PWD) and [`ACR_MFA`](crate::ACR_MFA).
    const ACR_VALUES: &'static [&'static str] = &[];
    /// The most seconds since the user's sign-in (`auth_time`, RFC 9470 `max_age`).
    const MAX_AGE: Option<u64> = None;
}

/// Declares a [`Requirement`] type needing every listed scope:
/// `authd_client::scope!(ItemsWrite, "items:write");`
#[macro_export]
macro_rules! scope {
    ($(#[$meta:meta])* $vis:vis $name:ident, $($scope:literal),+ $(,)?) => {
        $(#[$meta])*
        #[doc = concat!("Requires the scope(s): ", $($scope, " "),+)]
        #[derive(Debug, Clone, Copy)]
        $vis struct $name;
        impl $crate::Requirement for $name {
            const SCOPES: &'static [&'static str] = &[$($scope),+];
        }
    };
}

/// Declares a [`Requirement`] type needing every listed role: `authd_client::role!(Admin, "admin");`
#[macro_export]
macro_rules! role {
    ($(#[$meta:meta])* $vis:vis $name:ident, $($role:literal),+ $(,)?) => {
        $(#[$meta])*
        #[doc = concat!("Requires the role(s): ", $($role, " "),+)]
        #[derive(Debug, Clone, Copy)]
        $vis struct $name;
        impl $crate::Requirement for $name {
            const ROLES: &'static [&'static str] = &[$($role),+];
        }
    };
}

/// Declares a [`Requirement`] on the user's sign-in (RFC 9470): acceptable `acr` values, a
/// maximum age in seconds, or both. A token that falls short is refused with 401 and an
/// `insufficient_user_authentication` challenge naming them.
///
/// ```
/// authd_client::step_up!(Mfa, acr = [authd_client::ACR_MFA]);
/// authd_client::step_up!(Recent, max_age = 300);
/// authd_client::step_up!(RecentMfa, acr = [authd_client::ACR_MFA], max_age = 300);
/// ```
#[macro_export]
macro_rules! step_up {
    ($(#[$meta:meta])* $vis:vis $name:ident, acr = [$($acr:expr),+ $(,)?] $(, max_age = $max_age:expr)? $(,)?) => {
        $(#[$meta])*
        #[doc = concat!("Requires a sign-in with acr ", $(stringify!($acr), " "),+ $(, "no older than ", stringify!($max_age), " s")?)]
        #[derive(Debug, Clone, Copy)]
        $vis struct $name;
        impl $crate::Requirement for $name {
            const ACR_VALUES: &'static [&'static str] = &[$($acr),+];
            $(const MAX_AGE: Option<u64> = Some($max_age);)?
        }
    };
    ($(#[$meta:meta])* $vis:vis $name:ident, max_age = $max_age:expr $(,)?) => {
        $(#[$meta])*
        #[doc = concat!("Requires a sign-in no older than ", stringify!($max_age), " s")]
        #[derive(Debug, Clone, Copy)]
        $vis struct $name;
        impl $crate::Requirement for $name {
            const MAX_AGE: Option<u64> = Some($max_age);
        }
    };
}

/// A caller whose token satisfies `R`: `async fn create(caller: Require<ItemsWrite>)`.
pub struct Require<R> {
    caller: Arc<Caller>,
    _requirement: PhantomData<fn() -> R>,
}

impl<R> Require<R> {
    /// The verified caller.
    pub fn caller(&self) -> &Caller {
        &self.caller
    }
}

impl<R> Deref for Require<R> {
    type Target = Caller;

    fn deref(&self) -> &Caller {
        &self.caller
    }
}

impl<R> std::fmt::Debug for Require<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Require").field(&self.caller).finish()
    }
}

type Extraction<T> = Pin<Box<dyn Future<Output = Result<T, Rejection>>>>;

impl FromRequest for Caller {
    type Error = Rejection;
    type Future = Extraction<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let verified = authenticate(req);
        Box::pin(async move { verified.await.map(|caller| (*caller).clone()) })
    }
}

impl<R: Requirement + 'static> FromRequest for Require<R> {
    type Error = Rejection;
    type Future = Extraction<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let realm = realm_of(req);
        let verified = authenticate(req);
        Box::pin(async move {
            let caller = verified.await?;
            let missing: Vec<&str> = R::SCOPES
                .iter()
                .copied()
                .filter(|s| !caller.has_scope(s))
                .collect();
            if !missing.is_empty() {
                // RFC 6750 section 3.1: name the scope(s) needed to reach the resource.
                let error = AuthError::InsufficientScope(missing.join(" "));
                return Err(Rejection::new(error, realm));
            }
            if let Some(role) = R::ROLES.iter().find(|r| !caller.has_role(r)) {
                let error = AuthError::MissingRole((*role).to_owned());
                return Err(Rejection::new(error, realm));
            }
            // Last: a new sign-in helps only once the token has the scopes and roles.
            if let Some(step_up) = missing_authentication::<R>(&caller, unix_now_ms() / 1000) {
                let error = AuthError::InsufficientUserAuthentication(step_up);
                return Err(Rejection::new(error, realm));
            }
            Ok(Require {
                caller,
                _requirement: PhantomData,
            })
        })
    }
}

/// What the caller's sign-in lacks for `R` at `now` (Unix seconds), if anything.
fn missing_authentication<R: Requirement>(caller: &Caller, now: i64) -> Option<StepUp> {
    let too_weak = !R::ACR_VALUES.is_empty()
        && !caller
            .acr
            .as_deref()
            .is_some_and(|acr| R::ACR_VALUES.contains(&acr));
    let too_old = R::MAX_AGE.is_some_and(|max_age| !caller.authenticated_within(max_age, now));
    (too_weak || too_old).then(|| StepUp {
        acr_values: (!R::ACR_VALUES.is_empty()).then(|| R::ACR_VALUES.join(" ")),
        max_age: R::MAX_AGE,
        too_weak,
        too_old,
    })
}

/// The realm of the registered client's challenges (`authd` when none is registered).
pub(crate) fn realm_of(req: &HttpRequest) -> Arc<str> {
    find_client(req).map_or_else(|| Arc::from("authd"), |c| c.realm())
}

fn find_client(req: &HttpRequest) -> Option<AuthdClient> {
    req.app_data::<web::Data<AuthdClient>>()
        .map(|data| data.get_ref().clone())
        .or_else(|| req.app_data::<AuthdClient>().cloned())
}

fn authenticate(req: &HttpRequest) -> Extraction<Arc<Caller>> {
    let Some(client) = find_client(req) else {
        log::error!(
            "no AuthdClient registered with app_data; refusing {}",
            req.path()
        );
        return Box::pin(async {
            Err(Rejection::new(AuthError::Misconfigured, Arc::from("authd")))
        });
    };
    let credentials = credentials(req);
    let req = req.clone();
    Box::pin(async move {
        let (scheme, token) = credentials.map_err(|error| Rejection::new(error, client.realm()))?;
        let reject = |error| Rejection::new(error, client.realm()).answering(scheme);
        let caller = client.authenticate(&token).await.map_err(reject)?;
        client
            .check_binding(&req, scheme, &token, &caller)
            .map_err(reject)?;
        Ok(caller)
    })
}

/// The scheme and token of an `Authorization: Bearer` (RFC 6750 section 2.1) or
/// `Authorization: DPoP` (RFC 9449 section 7.1) header; schemes are case-insensitive.
pub(crate) fn credentials(req: &HttpRequest) -> Result<(Scheme, String), AuthError> {
    let mut values = req.headers().get_all(header::AUTHORIZATION);
    let Some(value) = values.next() else {
        return Err(AuthError::MissingToken);
    };
    if values.next().is_some() {
        return Err(AuthError::InvalidToken("malformed"));
    }
    let value = value
        .to_str()
        .map_err(|_| AuthError::InvalidToken("malformed"))?;
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    let scheme = if scheme.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case("dpop") {
        Scheme::Dpop
    } else {
        // Other schemes (Basic, …) carry no access token at all.
        return Err(AuthError::MissingToken);
    };
    let token = token.trim_matches(' ');
    if is_token68(token) {
        Ok((scheme, token.to_owned()))
    } else {
        Err(AuthError::InvalidToken("malformed"))
    }
}

/// RFC 6750 section 2.1 `b64token`.
fn is_token68(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn credentials_of(value: Option<&str>) -> Result<(Scheme, String), AuthError> {
        let mut request = TestRequest::default();
        if let Some(value) = value {
            request = request.insert_header((header::AUTHORIZATION, value));
        }
        credentials(&request.to_http_request())
    }

    fn token_of(value: Option<&str>) -> Result<String, AuthError> {
        credentials_of(value).map(|(_, token)| token)
    }

    crate::step_up!(Mfa, acr = [crate::ACR_MFA]);
    crate::step_up!(Recent, max_age = 60);
    crate::step_up!(
        RecentAny,
        acr = [crate::ACR_PWD, crate::ACR_MFA],
        max_age = 60
    );

    fn signed_in(acr: Option<&str>, auth_time: Option<i64>) -> Caller {
        Caller {
            subject: "u1".into(),
            client_id: "public".into(),
            username: Some("demo".into()),
            scopes: Vec::new(),
            roles: Vec::new(),
            expires_at: 0,
            token_id: None,
            acr: acr.map(str::to_owned),
            amr: Vec::new(),
            auth_time,
            dpop_jkt: None,
            actor: None,
        }
    }

    #[test]
    fn an_acr_outside_the_accepted_values_needs_a_stronger_sign_in() {
        let mfa = signed_in(Some(crate::ACR_MFA), Some(0));
        assert_eq!(missing_authentication::<Mfa>(&mfa, 1_000_000), None);
        for weak in [
            signed_in(Some(crate::ACR_PWD), Some(0)),
            signed_in(None, None),
        ] {
            let step_up = missing_authentication::<Mfa>(&weak, 0).expect("refused");
            assert_eq!(step_up.acr_values.as_deref(), Some(crate::ACR_MFA));
            assert_eq!(step_up.max_age, None);
            assert!(step_up.too_weak && !step_up.too_old);
        }
    }

    #[test]
    fn a_sign_in_older_than_max_age_or_of_unknown_age_needs_a_new_one() {
        let recent = signed_in(Some(crate::ACR_PWD), Some(1_000));
        assert_eq!(missing_authentication::<Recent>(&recent, 1_060), None);
        let step_up = missing_authentication::<Recent>(&recent, 1_061).expect("too old");
        assert_eq!((step_up.acr_values, step_up.max_age), (None, Some(60)));
        assert!(step_up.too_old && !step_up.too_weak);
        assert!(missing_authentication::<Recent>(&signed_in(None, None), 0).is_some());
        let step_up = missing_authentication::<RecentAny>(&recent, 2_000).expect("too old");
        assert_eq!(
            step_up.acr_values.as_deref(),
            Some("urn:authd:acr:pwd urn:authd:acr:mfa")
        );
        assert_eq!(missing_authentication::<RecentAny>(&recent, 1_001), None);
    }

    #[test]
    fn a_bearer_header_yields_its_token() {
        assert_eq!(
            token_of(Some("Bearer abc.def-_~+/=")).unwrap(),
            "abc.def-_~+/="
        );
        assert_eq!(token_of(Some("bearer  abc")).unwrap(), "abc");
    }

    #[test]
    fn a_dpop_header_yields_its_token_and_scheme_in_any_case() {
        for value in ["DPoP abc.def", "dpop abc.def", "DPOP  abc.def"] {
            assert_eq!(
                credentials_of(Some(value)).unwrap(),
                (Scheme::Dpop, "abc.def".to_owned()),
                "{value}"
            );
        }
        assert_eq!(
            credentials_of(Some("Bearer abc")).unwrap().0,
            Scheme::Bearer
        );
        assert_eq!(
            credentials_of(Some("DPoP")),
            Err(AuthError::InvalidToken("malformed"))
        );
    }

    #[test]
    fn no_header_or_another_scheme_is_a_missing_token() {
        assert_eq!(token_of(None), Err(AuthError::MissingToken));
        assert_eq!(
            token_of(Some("Basic dXNlcjpwdw==")),
            Err(AuthError::MissingToken)
        );
    }

    #[test]
    fn a_malformed_bearer_value_is_an_invalid_token() {
        for value in [
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Bearer a\"b",
            "Bearer ===",
        ] {
            assert_eq!(
                token_of(Some(value)),
                Err(AuthError::InvalidToken("malformed")),
                "{value}"
            );
        }
    }
}
