//! The spellings of an API URL that DRF's router serves, undone before
//! routing so that each is answered, and cached, as its plain URL is: a
//! missing trailing slash, a `.json` format suffix (`/api/products.json`,
//! `/api/products/1.json`, each also with a slash) and `?format=json`. Any
//! other format (`.xml`, `?format=api`) is DRF's 404, `{"detail": "Not
//! found."}`, before anything else is checked (DRF negotiates the format
//! before it authenticates). The OpenAPI document, which is not DRF's, is
//! served as it is. The document shows the suffix forms as paths of their
//! own ([`FormatSuffixes`]).
//!
//! tower-http's `NormalizePath` would add the slash to every page's path
//! too, and to the document's name.

use std::borrow::Cow;
use std::convert::Infallible;
use std::future::{Ready, ready};
use std::task::{Context, Poll};

use axum::http::{Request, Uri};
use axum::response::{IntoResponse, Response};
use futures_util::future::Either;
use tower::Service;
use utoipa::Modify;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{OpenApi, Required};

use crate::error::AppError;

/// The document's path, routed as it is written (see `routes::router`).
const DOCUMENT: &str = "/api/openapi.json";

/// The only format the API writes.
const JSON: &str = "json";

/// A format the API does not write.
#[derive(Debug, PartialEq, Eq)]
struct UnknownFormat;

/// Wraps the router: see the module's comment. A plain service rather than
/// `axum::middleware`, which would box every request's future to refuse a
/// few.
#[derive(Clone)]
pub struct ApiUrls<S>(pub S);

// Over any body: the body limit above has wrapped it by now.
impl<S, B> Service<Request<B>> for ApiUrls<S>
where
    S: Service<Request<B>, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<Ready<Result<Response, Infallible>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        match canonical(request.uri()) {
            Ok(Some(uri)) => *request.uri_mut() = uri,
            Ok(None) => {}
            Err(UnknownFormat) => return Either::Left(ready(Ok(AppError::not_found().into_response()))),
        }
        Either::Right(self.0.call(request))
    }
}

/// The plain URI `uri` spells, or `None` when it is one already (or is not
/// the API's). A URI that cannot take one more byte is left as it is.
fn canonical(uri: &Uri) -> Result<Option<Uri>, UnknownFormat> {
    let path = uri.path();
    if !super::super::is_api(path) || path == DOCUMENT {
        return Ok(None);
    }
    // DRF's suffix follows a path's last segment, which may not have a dot
    // of its own: a dot anywhere in it starts the format.
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    let (parent, last) = trimmed.rsplit_once('/').unwrap_or(("", trimmed));
    let (stem, suffix) = match last.split_once('.') {
        Some((stem, format)) => (stem, Some(format)),
        None => (last, None),
    };
    let (format_given, asked) = uri.query().map(query_format).unwrap_or_default();
    // The suffix wins over the query, as in DRF. DRF's root has a `.json`
    // form too (`/api/.json`); this one does not.
    let unknown = match suffix {
        Some(format) => format != JSON || stem.is_empty(),
        None => asked.is_some_and(|format| format != JSON),
    };
    if unknown {
        return Err(UnknownFormat);
    }
    if suffix.is_none() && path.ends_with('/') && !format_given {
        return Ok(None);
    }
    let mut plain = format!("{parent}/{stem}/");
    let query = uri.query().map(without_format).unwrap_or_default();
    if !query.is_empty() {
        plain.push('?');
        plain.push_str(&query);
    }
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = match plain.parse() {
        Ok(path_and_query) => Some(path_and_query),
        Err(_) => return Ok(None),
    };
    Ok(Uri::from_parts(parts).ok())
}

/// Whether `query` has a `format` parameter, and the format it asks for,
/// read as `QueryPairs` reads a parameter: the last value, a blank one
/// being no value.
fn query_format(query: &str) -> (bool, Option<Cow<'_, str>>) {
    let mut found = (false, None);
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        if key == "format" {
            found = (true, Some(value).filter(|v| !v.trim().is_empty()));
        }
    }
    found
}

/// `query` without its `format` parameters, the others as they were sent.
fn without_format(query: &str) -> String {
    let kept = query.split('&').filter(|pair| form_urlencoded::parse(pair.as_bytes()).all(|(key, _)| key != "format"));
    kept.collect::<Vec<_>>().join("&")
}

/// The document's side of the spellings: each resource path's `.json`
/// twin, with the same operations (their ids ending in `_json`), and the
/// `format` parameter on the plain paths. A twin takes no `format`: its
/// suffix wins over one, so no value of it is refused there. Applied once
/// the router has added the paths.
pub struct FormatSuffixes;

impl Modify for FormatSuffixes {
    fn modify(&self, openapi: &mut OpenApi) {
        let paths = &mut openapi.paths.paths;
        let twins: Vec<(String, PathItem)> = paths
            .iter()
            .filter_map(|(path, item)| {
                let bare = path.strip_suffix('/').filter(|bare| bare.starts_with("/api/"))?;
                let mut twin = item.clone();
                for operation in operations(&mut twin) {
                    operation.operation_id = operation.operation_id.take().map(|id| format!("{id}_json"));
                }
                Some((format!("{bare}.{JSON}"), twin))
            })
            .collect();
        for operation in paths.values_mut().flat_map(operations) {
            operation.parameters.get_or_insert_with(Vec::new).push(format_parameter());
        }
        paths.extend(twins);
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch].into_iter().flatten()
}

fn format_parameter() -> utoipa::openapi::path::Parameter {
    let schema = ObjectBuilder::new().schema_type(Type::String).enum_values(Some([JSON]));
    ParameterBuilder::new()
        .name("format")
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some("The answer's format, as the `.json` suffix gives it: any other is a 404."))
        .schema(Some(schema))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(uri: &str) -> Result<Option<String>, UnknownFormat> {
        canonical(&uri.parse().unwrap()).map(|u| u.map(|u| u.to_string()))
    }

    #[test]
    fn plain_api_urls_and_other_paths_are_left_as_they_are() {
        for uri in ["/api/products/", "/api/products/?page=2&ordering=price", "/api/products/7/", "/api/", DOCUMENT] {
            assert_eq!(plain(uri), Ok(None), "{uri}");
        }
        for uri in ["/products", "/products/a.json", "/static/css/site.css", "/apiary.json"] {
            assert_eq!(plain(uri), Ok(None), "{uri}");
        }
    }

    #[test]
    fn a_missing_slash_is_added() {
        assert_eq!(plain("/api/products"), Ok(Some("/api/products/".into())));
        assert_eq!(plain("/api/products/7?x=1"), Ok(Some("/api/products/7/?x=1".into())));
        assert_eq!(plain("/api"), Ok(Some("/api/".into())));
    }

    #[test]
    fn a_json_suffix_is_the_plain_url() {
        for (uri, expected) in [
            ("/api/products.json", "/api/products/"),
            ("/api/products.json/", "/api/products/"),
            ("/api/products/7.json", "/api/products/7/"),
            ("/api/categories/3.json/?page=2", "/api/categories/3/?page=2"),
            ("/api/products.json?format=xml", "/api/products/"),
        ] {
            assert_eq!(plain(uri), Ok(Some(expected.into())), "{uri}");
        }
    }

    #[test]
    fn format_json_in_the_query_is_dropped_and_the_rest_kept() {
        for (uri, expected) in [
            ("/api/products/?format=json", "/api/products/"),
            ("/api/products/?page=2&format=json&ordering=price", "/api/products/?page=2&ordering=price"),
            ("/api/products/?%66ormat=json&a=%20b", "/api/products/?a=%20b"),
            ("/api/products/?format=xml&format=json", "/api/products/"),
            // A blank value is no value, as for every parameter.
            ("/api/products/?format=xml&format=", "/api/products/"),
            ("/api/?format=json", "/api/"),
        ] {
            assert_eq!(plain(uri), Ok(Some(expected.into())), "{uri}");
        }
    }

    #[test]
    fn any_other_format_is_unknown() {
        for uri in [
            "/api/products.xml",
            "/api/products/7.xml/",
            "/api/products/?format=api",
            "/api/products/7/?format=JSON",
            "/api/products.xml?format=json",
            "/api/products/1.5/",
            "/api/products/1.2.json",
            "/api/products/.json",
            "/api/.json",
            "/api/?format=xml",
        ] {
            assert_eq!(plain(uri), Err(UnknownFormat), "{uri}");
        }
    }
}
