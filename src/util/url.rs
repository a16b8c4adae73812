//! URLs shown without their credentials.

/// Query parameters whose values are secrets, compared without case (`password`, `api_key`,
/// `access_token`, ...): any name that contains one of these.
const SECRET_PARAMS: &[&str] = &[
    "pass",
    "pwd",
    "secret",
    "token",
    "key",
    "auth",
    "sig",
    "credential",
];

/// Whether `name`, a query parameter's name, suggests a secret (see [`SECRET_PARAMS`]).
fn is_secret_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_PARAMS.iter().any(|s| name.contains(s))
}

/// Whether `url` carries credentials: a user name, a password, or a query parameter whose name
/// suggests a secret. Such a URL must not be stored or sent where it may be shown.
pub fn has_credentials(url: &url::Url) -> bool {
    !url.username().is_empty()
        || url.password().is_some()
        || url.query_pairs().any(|(k, _)| is_secret_param(&k))
}

/// `url` as it may be shown: a user name and password become `***`, and so does the value of
/// every query parameter whose name suggests a secret (`?password=`, `?sslkey=`, `?api_key=`).
/// A string that does not parse as a URL is not shown at all, since it may be a secret itself
/// (`"a URL that does not parse"`).
pub fn redact_url(url: &str) -> String {
    let Ok(mut u) = url::Url::parse(url) else {
        return "a URL that does not parse".to_owned();
    };
    if !u.username().is_empty() {
        let _ = u.set_username("***");
    }
    if u.password().is_some() {
        let _ = u.set_password(Some("***"));
    }
    if u.query().is_some() {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let secret = is_secret_param(&k);
                (
                    k.into_owned(),
                    if secret {
                        "***".to_owned()
                    } else {
                        v.into_owned()
                    },
                )
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    if u.fragment().is_some() {
        u.set_fragment(None);
    }
    super::shown(u.as_str()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_users_and_secret_params_are_hidden() {
        assert_eq!(
            redact_url("postgres://u:hunter2@db.example/app?password=hunter2&sslmode=require"),
            "postgres://***:***@db.example/app?password=***&sslmode=require"
        );
        assert_eq!(
            redact_url("https://user:key@api.example/graphql?key=abc&api_key=def&x=1"),
            "https://***:***@api.example/graphql?key=***&api_key=***&x=1"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://***@h/db");
    }

    #[test]
    fn credentials_are_found_in_userinfo_and_query() {
        let has = |u: &str| super::has_credentials(&u.parse().unwrap());
        assert!(has("https://u@api.example/graphql"));
        assert!(has("https://:p@api.example/graphql"));
        assert!(has("https://api.example/graphql?x=1&API_KEY=abc"));
        assert!(!has("https://api.example/graphql?x=1"));
    }

    #[test]
    fn unparsable_urls_are_not_shown() {
        assert_eq!(redact_url("not a url hunter2"), "a URL that does not parse");
    }

    #[test]
    fn plain_urls_are_kept() {
        assert_eq!(
            redact_url("https://app.codesignal.com/graphql"),
            "https://app.codesignal.com/graphql"
        );
    }
}
