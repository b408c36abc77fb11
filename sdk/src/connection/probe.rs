//! [`probe`]: which versions of the API an engine serves, and what it says it is.

use super::{Connection, ConnectionBuilder};
use crate::error::Error;
use crate::service::read_raw;

/// What [`probe`] found out about an engine.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Probe {
    /// The API versions the engine answered with an `<api>` document, of 4 and 3, highest
    /// first (this SDK speaks 4).
    pub versions: Vec<u32>,
    /// The product's name from the version 4 API root (`oVirt Engine`).
    pub product_name: Option<String>,
    /// The product's version from the version 4 API root (`4.5.0`), its `full_version`
    /// when given, else `major.minor.build`.
    pub product_version: Option<String>,
}

/// Logs in with `options`, asks the API root once for each API version (`Version: 4`,
/// `Version: 3`), reads the product information of the version 4 answer, and logs out.
/// An engine that refuses the login, or a path where no version answers (404), is an
/// error (with the hints of [`crate::Error`]); a version the engine does not serve is
/// simply not listed.
pub async fn probe(options: ConnectionBuilder) -> Result<Probe, Error> {
    let connection = options.build()?;
    let found = connection.probe().await;
    let closed = connection.close().await;
    let found = found?;
    closed?;
    Ok(found)
}

impl Connection {
    /// Which API versions this engine serves and what it says it is (see [`probe`]); the
    /// connection stays open.
    pub async fn probe(&self) -> Result<Probe, Error> {
        let token = self.authenticate().await?;
        let inner = &self.inner;
        let mut found = Probe::default();
        let mut not_found = false;
        for version in [4u32, 3] {
            let req = http1_pipeline::Request::get(inner.base_path.clone())
                .header("Version", version.to_string())
                .header("Accept", "application/xml")
                .header("Authorization", format!("Bearer {token}"));
            let raw = read_raw(inner.client.send(req))
                .await
                .map_err(|e| e.for_request("GET", &inner.url))?;
            let is_api = (200..300).contains(&raw.status)
                && raw
                    .content_type
                    .as_deref()
                    .is_none_or(|c| c.contains("xml"));
            if !is_api {
                not_found |= raw.status == 404;
                continue;
            }
            let Ok(api) = crate::service::read_body::<crate::types::Api>(&raw.body, "api") else {
                continue;
            };
            found.versions.push(version);
            if version == 4 {
                let info = api.product_info.as_deref();
                found.product_name = info.and_then(|i| i.name.clone());
                found.product_version = info.and_then(|i| i.version.as_deref()).and_then(|v| {
                    v.full_version.clone().or_else(|| {
                        Some(format!(
                            "{}.{}.{}",
                            v.major?,
                            v.minor.unwrap_or(0),
                            v.build.unwrap_or(0)
                        ))
                    })
                });
            }
        }
        if found.versions.is_empty() && not_found {
            return Err(crate::Error::with_message(
                crate::error::ErrorKind::NotFound,
                "no API version answered at this path",
            )
            .status(404)
            .for_request("GET", &inner.url)
            .hint(crate::service::wrong_path_hint(&inner.base_path)));
        }
        Ok(found)
    }
}
